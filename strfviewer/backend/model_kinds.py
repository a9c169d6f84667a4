"""The model kinds ``strfviewer fit`` builds: here, without torch, so the command line can list them at once."""

MODEL_KINDS: tuple[str, ...] = ("linear", "ln", "nrf", "dnet", "icnet")
NETWORK_ARGUMENTS: dict[str, tuple[str, ...]] = {  # the constructor arguments a fit may set, per hidden-unit kind
    "nrf": ("n_hidden",),
    "dnet": ("n_hidden", "init_tau", "decay_input"),
}
