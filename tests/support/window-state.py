"""Says whether a top-level X11 window is on screen: mapped and viewable, as a user would see it
(a window that exists but was never shown, or was hidden, is not).

    python3 window-state.py TITLE     prints "viewable", "hidden" or "none" for the window
                                      whose title is TITLE; exits 0 only for "viewable"

Needs python-xlib; DISPLAY says which X server.
"""
import sys

from Xlib import X, display


def main(title):
    d = display.Display()
    state = "none"
    for window in d.screen().root.query_tree().children:
        try:
            if window.get_wm_name() != title:
                continue
            viewable = window.get_attributes().map_state == X.IsViewable
        except Exception:  # a window that went away meanwhile
            continue
        state = "viewable" if viewable else ("hidden" if state == "none" else state)
        if viewable:
            break
    print(state)
    return 0 if state == "viewable" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
