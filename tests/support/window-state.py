"""Says whether a top-level X11 window is on screen: mapped and viewable, as a user would see it
(a window that exists but was never shown, or was hidden, is not).

    python3 window-state.py TITLE             prints "viewable", "hidden" or "none" for the
                                              window whose title is TITLE; exits 0 only for
                                              "viewable"
    python3 window-state.py TITLE --painted   the same, and "viewable" only once the window's
                                              pixels hold a drawn page (many colours, not one
                                              blank fill)

Needs python-xlib; DISPLAY says which X server.
"""
import sys

from Xlib import X, display

# A blank or half-made window has a handful of colours; the app's page has dozens.
PAINTED_COLOURS = 16


def colours(window):
    geometry = window.get_geometry()
    data = window.get_image(0, 0, geometry.width, geometry.height, X.ZPixmap, 0xFFFFFFFF).data
    return len({data[i:i + 3] for i in range(0, len(data), 4 * 31)})


def main(title, painted):
    d = display.Display()
    state = "none"
    for window in d.screen().root.query_tree().children:
        try:
            if window.get_wm_name() != title:
                continue
            viewable = window.get_attributes().map_state == X.IsViewable
            if viewable and painted and colours(window) < PAINTED_COLOURS:
                viewable = False
        except Exception:  # a window that went away meanwhile
            continue
        state = "viewable" if viewable else ("hidden" if state == "none" else state)
        if viewable:
            break
    print(state)
    return 0 if state == "viewable" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], "--painted" in sys.argv[2:]))
