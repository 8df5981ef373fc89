"""A user who does not answer: serves org.gnome.keyring.SystemPrompter on the session bus, the
prompter gnome-keyring asks to show its unlock prompts, and never shows one — each prompt
stays open, as it does while a user leaves the dialog unanswered.

    python3 prompter.py      prints "ready" once on the bus, then "prompt" for each prompt

Needs jeepney (`pip install jeepney`); DBUS_SESSION_BUS_ADDRESS says which bus.
"""
from jeepney import HeaderFields, MessageType, new_method_return
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import open_dbus_connection


def main():
    conn = open_dbus_connection(bus="SESSION")
    reply = conn.send_and_get_reply(message_bus.RequestName("org.gnome.keyring.SystemPrompter", 4))
    if reply.body[0] != 1:
        print("cannot own the prompter's name", reply.body, flush=True)
        return 1
    print("ready", flush=True)
    while True:
        msg = conn.receive()
        if msg.header.message_type != MessageType.method_call:
            continue
        if msg.header.fields.get(HeaderFields.member) == "BeginPrompting":
            print("prompt", flush=True)
        # Every call is accepted; the prompt itself is never made ready.
        conn.send(new_method_return(msg))


if __name__ == "__main__":
    raise SystemExit(main())
