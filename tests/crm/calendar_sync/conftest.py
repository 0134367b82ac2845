from tests.integrations.graph.conftest import m365

__all__ = ["m365"]
