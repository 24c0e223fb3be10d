"""epindex's start-up hook: what its .pth files import at interpreter
start-up (epindex-accelerate.pth when EPINDEX_ACCELERATE=1, and the
epindex-enabled.pth that `python -m epindex enable` writes).

A .pth file's import is paid by every process, `python -c pass` included,
and the epindex package costs about a millisecond to import. So this module
only puts a finder at the front of sys.meta_path and waits: when
importlib.metadata (or the importlib_metadata backport) is imported, or
epindex itself, epindex is imported, takes over (epindex._startup()) and
this finder steps aside. A process that never asks importlib.metadata
anything pays for this module alone.
"""
import sys

_TARGETS = ("importlib.metadata", "importlib_metadata")


class Waiting:
    """The sys.meta_path entry that waits for importlib.metadata."""

    @classmethod
    def find_spec(cls, fullname, path=None, target=None):
        global pending
        if fullname not in _TARGETS or pending is None:
            return None
        try:
            import epindex  # which takes over: see epindex._take_over()
        except Exception as e:  # noqa: BLE001 -- importlib.metadata must load
            # as site.py reports a failing .pth line, and carries on. This
            # finder stays in sys.meta_path, inert: the import system is
            # iterating over that list, and removing an entry would make it
            # skip the next finder.
            pending = None
            sys.stderr.write("epindex: not accelerating: %s: %s\n"
                             % (type(e).__name__, e))
            return None
        return epindex._PatchOnImport.find_spec(fullname, path, target)


# None until a .pth calls start(); then whether an enabled environment's
# did (healing and the user cache on), not only EPINDEX_ACCELERATE=1
pending = None


def start(enabled):
    """Called by the .pth files: accelerate this process from the first
    import of importlib.metadata, or of epindex, on."""
    global pending
    pending = bool(pending) or enabled
    if "epindex" in sys.modules or any(t in sys.modules for t in _TARGETS):
        import epindex  # already there, or too late to wait: now

        epindex._take_over()
    elif Waiting not in sys.meta_path:
        sys.meta_path.insert(0, Waiting)


def hand_over():
    """Step aside, for epindex taking over: what start() was asked (None:
    nothing), which epindex starts with."""
    global pending
    asked, pending = pending, None
    while Waiting in sys.meta_path:
        sys.meta_path.remove(Waiting)
    return asked
