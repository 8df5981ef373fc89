"""Asks an X11 window to close, exactly as a window manager does when the user clicks its close
button: a WM_PROTOCOLS client message carrying WM_DELETE_WINDOW. (Xvfb runs no window manager,
and WebDriver's "close window" ends the browser instead of asking the app.)

    python3 close-window.py TITLE     closes every top-level window whose title is TITLE;
                                      exits 1 if there was none

Needs python-xlib (`pip install python-xlib`); DISPLAY says which X server.
"""
import sys

from Xlib import X, display, protocol


def main(title):
    d = display.Display()
    wm_protocols = d.intern_atom("WM_PROTOCOLS")
    wm_delete = d.intern_atom("WM_DELETE_WINDOW")
    closed = 0
    for window in d.screen().root.query_tree().children:
        try:
            name = window.get_wm_name()
            protocols = window.get_wm_protocols() or []
        except Exception:  # a window that went away meanwhile
            continue
        if name != title or wm_delete not in protocols:
            continue
        event = protocol.event.ClientMessage(
            window=window,
            client_type=wm_protocols,
            data=(32, [wm_delete, X.CurrentTime, 0, 0, 0]),
        )
        window.send_event(event, event_mask=X.NoEventMask)
        closed += 1
    d.sync()
    return 0 if closed else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
