"""Published data: figures with their sources (``reference``) and training recipes (``recipes``)."""
