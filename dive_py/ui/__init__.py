"""The Textual explorer. Textual is imported only under this package."""


def run_ui(source, config=None, show_secrets: bool = False) -> int:
    if hasattr(source, "with_early_outline"):  # the engine is asked while Textual starts
        source = source.with_early_outline()
    from dive_py.ui.app import run

    return run(source, config, show_secrets=show_secrets)
