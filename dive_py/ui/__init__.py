"""The Textual explorer. Textual is imported only under this package."""


def run_ui(source) -> int:
    from dive_py.ui.app import run

    return run(source)
