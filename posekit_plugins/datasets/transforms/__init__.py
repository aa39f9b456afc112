from .ignore_mask import BottomupGetIgnoreMask

__all__ = ['BottomupGetIgnoreMask']
