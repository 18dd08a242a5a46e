"""Channel Scaling Lab engine: backbones, scaling, analytic counting, building, latency.

Never imports streamlit: the app, the command line and the tests drive the same functions.
Parts: ``core.network`` (the description, scaling, counting, building, specs), ``core.measurement``
(timed runs, the queue and worker), ``core.prediction`` (latency model, roofline, accuracy),
``core.published`` (published figures and recipes). Wherever a backbone name is taken, an
architecture from ``load_spec`` is taken too.
"""
from core.network.counting import Profile
from core.network.families import ARCHITECTURES, BACKBONE_NAMES, PRESETS
from core.network.profiling import profile
from core.network.scaling import CompoundScaling, ScalingError, adjust_channels, adjust_depth, make_divisible, scale
from core.network.spec import SpecError, export_spec, load_spec

__all__ = ["ARCHITECTURES", "BACKBONE_NAMES", "PRESETS", "CompoundScaling", "Profile", "ScalingError", "SpecError",
           "adjust_channels", "adjust_depth", "build_model", "export_spec", "load_spec", "make_divisible",
           "measure_latency", "predict_latency", "calibrate", "profile", "scale"]


def build_model(*args, **kwargs):
    """The torch module of a configuration (imports torch on first use)."""
    from core.network.building import build_model as _build
    return _build(*args, **kwargs)


def measure_latency(*args, **kwargs):
    """Real forward-pass latency of a configuration (imports torch on first use)."""
    from core.measurement.latency import measure_latency as _measure
    return _measure(*args, **kwargs)


def predict_latency(*args, **kwargs):
    """Predicted latency: this host's calibrated model, or a roofline lower bound for another device."""
    from core.prediction.latency_model import predict_latency as _predict
    return _predict(*args, **kwargs)


def calibrate(*args, **kwargs):
    """Fit this host's latency model for a runtime (times real networks; cached on disk)."""
    from core.prediction.calibration import calibrate as _calibrate
    return _calibrate(*args, **kwargs)
