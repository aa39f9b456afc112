from .assigners import *  # noqa: F401,F403
from .assigners import __all__ as _assigners
from .coders import *  # noqa: F401,F403
from .coders import __all__ as _coders
from .selection import *  # noqa: F401,F403
from .selection import __all__ as _selection

__all__ = _assigners + _coders + _selection
