"""The model kinds ``strfviewer fit`` builds: here, without torch, so the command line can list them at once."""

MODEL_KINDS: tuple[str, ...] = ("linear", "ln", "nrf", "dnet", "convnet2d", "statenet", "transformer", "icnet")
# The constructor arguments a fit may set, per network kind (deepSTRF's names; the rest keep its defaults).
NETWORK_ARGUMENTS: dict[str, tuple[str, ...]] = {
    "nrf": ("n_hidden",),
    "dnet": ("n_hidden", "init_tau", "decay_input"),
    "convnet2d": ("kernel_size", "c_hidden", "n_hidden"),
    "statenet": ("kernel_size", "stride", "hidden_channels", "connectivity", "rnn_type"),
    "transformer": ("freq_patch_size", "time_patch_size", "context_window", "embedding_dim", "n_heads", "n_layers",
                    "mask_future"),  # mask_future=false: a deliberately leaking model, to show what a leak looks like
}
# The kinds whose STRF length is the fit's temporal window (``--window``); the others size their own memory.
WINDOWED_KINDS: tuple[str, ...] = ("linear", "ln", "nrf", "dnet")


def described_arguments() -> str:
    """``nrf (n_hidden), dnet (n_hidden, init_tau, decay_input), ...`` for help texts and messages."""
    return ", ".join(f"{kind} ({', '.join(names)})" for kind, names in NETWORK_ARGUMENTS.items())
