"""Channel Scaling Lab engine: backbones, scaling, analytic counting, building, latency.

Never imports streamlit: the app, the command line and the tests drive the same functions.
"""
from core.counting import Profile, profile
from core.families import ARCHITECTURES, BACKBONE_NAMES, PRESETS
from core.scaling import CompoundScaling, ScalingError, adjust_channels, adjust_depth, make_divisible, scale

__all__ = ["ARCHITECTURES", "BACKBONE_NAMES", "PRESETS", "CompoundScaling", "Profile", "ScalingError",
           "adjust_channels", "adjust_depth", "build_model", "make_divisible", "measure_latency",
           "predict_latency", "calibrate", "profile", "scale"]


def build_model(*args, **kwargs):
    """The torch module of a configuration (imports torch on first use)."""
    from core.modules import build_model as _build
    return _build(*args, **kwargs)


def measure_latency(*args, **kwargs):
    """Real forward-pass latency of a configuration (imports torch on first use)."""
    from core.latency import measure_latency as _measure
    return _measure(*args, **kwargs)


def predict_latency(*args, **kwargs):
    """Predicted latency: this host's calibrated model, or a roofline lower bound for another device."""
    from core.latency_model import predict_latency as _predict
    return _predict(*args, **kwargs)


def calibrate(*args, **kwargs):
    """Fit this host's latency model for a runtime (times real networks; cached on disk)."""
    from core.latency_model import calibrate as _calibrate
    return _calibrate(*args, **kwargs)
