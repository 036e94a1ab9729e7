"""getargspec, as prometheus_client.decorator has it: the (args, varargs, varkw, defaults) of a
function. Our decorators (time(), count_exceptions(), track_inprogress()) keep the decorated
function's signature through functools.wraps, so the signature is read as inspect.signature
reads it: through ``__wrapped__``."""

import inspect

__all__ = ["getargspec"]


def getargspec(f):
    """(args, varargs, varkw, defaults) of `f` (keyword-only parameters are not listed)."""
    args, varargs, varkw, defaults = [], None, None, []
    for parameter in inspect.signature(f).parameters.values():
        if parameter.kind in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD):
            args.append(parameter.name)
            if parameter.default is not parameter.empty:
                defaults.append(parameter.default)
        elif parameter.kind is parameter.VAR_POSITIONAL:
            varargs = parameter.name
        elif parameter.kind is parameter.VAR_KEYWORD:
            varkw = parameter.name
    return args, varargs, varkw, tuple(defaults) if defaults else None
