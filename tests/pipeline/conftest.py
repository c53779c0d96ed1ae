from tests.kit.standins import standin_store

__all__ = ["standin_store"]
