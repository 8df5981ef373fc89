"""A minimal system-tray host for the GUI tests: it serves org.kde.StatusNotifierWatcher on the
session bus, as a desktop's panel does, so the app's tray icon registers with it; then it can
read the icon's menu (com.canonical.dbusmenu) and click an item, as a user would.

    python3 tray-host.py serve            serve until killed; prints "ready" once on the bus,
                                          then "item <bus name> <path>" for each icon
    python3 tray-host.py serve-then-end PID
                                          serve, and end the bus (kill process PID, the bus
                                          daemon) as the first icon registers, before answering:
                                          a logout while the icon goes up
    python3 tray-host.py menu NAME PATH   prints the icon's menu labels, one per line
    python3 tray-host.py click NAME PATH LABEL
                                          clicks the item with that label
    python3 tray-host.py live NAME...     prints the names that still have an owner on the bus
                                          (an icon whose process ended, or that shut it down, has
                                          none: a panel drops it)

Needs jeepney (`pip install jeepney`); DBUS_SESSION_BUS_ADDRESS says which bus.
"""
import os
import signal
import sys
import time

from jeepney import DBusAddress, HeaderFields, MessageType, new_method_call, new_method_return
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import open_dbus_connection

WATCHER = "org.kde.StatusNotifierWatcher"
PATH = "/StatusNotifierWatcher"


def serve(end_bus=None):
    conn = open_dbus_connection(bus="SESSION")
    items = []
    reply = conn.send_and_get_reply(message_bus.RequestName(WATCHER, 4))
    if reply.body[0] != 1:
        print("cannot own", WATCHER, reply.body, flush=True)
        return 1
    print("ready", flush=True)
    props = {
        "IsStatusNotifierHostRegistered": ("b", True),
        "ProtocolVersion": ("i", 0),
    }
    while True:
        msg = conn.receive()
        if msg.header.message_type != MessageType.method_call:
            continue
        fields = msg.header.fields
        iface = fields.get(HeaderFields.interface)
        member = fields.get(HeaderFields.member)
        sender = fields.get(HeaderFields.sender)
        if member == "RegisterStatusNotifierItem":
            target = msg.body[0]
            name, path = (sender, target) if target.startswith("/") else (target, "/StatusNotifierItem")
            items.append(name + path)
            print("item", name, path, flush=True)
            if end_bus is not None:
                os.kill(end_bus, signal.SIGKILL)
                return 0
            conn.send(new_method_return(msg))
        elif member == "RegisterStatusNotifierHost":
            conn.send(new_method_return(msg))
        elif iface == "org.freedesktop.DBus.Properties" and member == "Get":
            if msg.body[1] == "RegisteredStatusNotifierItems":
                conn.send(new_method_return(msg, "v", (("as", items),)))
            else:
                conn.send(new_method_return(msg, "v", (props.get(msg.body[1], ("b", False)),)))
        elif iface == "org.freedesktop.DBus.Properties" and member == "GetAll":
            values = dict(props)
            values["RegisteredStatusNotifierItems"] = ("as", items)
            conn.send(new_method_return(msg, "a{sv}", (values,)))
        elif iface == "org.freedesktop.DBus.Introspectable":
            conn.send(new_method_return(msg, "s", (INTROSPECTION,)))
        else:
            conn.send(new_method_return(msg))


INTROSPECTION = """<node><interface name="org.kde.StatusNotifierWatcher">
<method name="RegisterStatusNotifierItem"><arg type="s" direction="in"/></method>
<method name="RegisterStatusNotifierHost"><arg type="s" direction="in"/></method>
<property name="RegisteredStatusNotifierItems" type="as" access="read"/>
<property name="IsStatusNotifierHostRegistered" type="b" access="read"/>
<property name="ProtocolVersion" type="i" access="read"/>
<signal name="StatusNotifierItemRegistered"><arg type="s"/></signal>
</interface></node>"""


def menu_path(conn, name, path):
    item = DBusAddress(path, bus_name=name, interface="org.freedesktop.DBus.Properties")
    reply = conn.send_and_get_reply(new_method_call(item, "Get", "ss", ("org.kde.StatusNotifierItem", "Menu")))
    return reply.body[0][1]


def layout(conn, name, path):
    menu = DBusAddress(menu_path(conn, name, path), bus_name=name, interface="com.canonical.dbusmenu")
    reply = conn.send_and_get_reply(new_method_call(menu, "GetLayout", "iias", (0, -1, [])))
    _revision, root = reply.body
    entries = []

    def walk(node):
        ident, props, children = node
        if "label" in props:
            entries.append((ident, props["label"][1], props.get("enabled", ("b", True))[1]))
        for child in children:
            walk(child[1])

    walk(root)
    return menu, entries


def main(argv):
    if argv[1] == "serve":
        return serve()
    if argv[1] == "serve-then-end":
        return serve(end_bus=int(argv[2]))
    conn = open_dbus_connection(bus="SESSION")
    if argv[1] == "live":
        for name in argv[2:]:
            if conn.send_and_get_reply(message_bus.NameHasOwner(name)).body[0]:
                print(name)
        return 0
    menu, entries = layout(conn, argv[2], argv[3])
    if argv[1] == "menu":
        for _ident, label, enabled in entries:
            print(label if enabled else label + " (disabled)")
        return 0
    if argv[1] == "click":
        for ident, label, _enabled in entries:
            if label.replace("_", "") == argv[4]:
                conn.send_and_get_reply(
                    new_method_call(menu, "Event", "isvu", (ident, "clicked", ("i", 0), int(time.time())))
                )
                return 0
        print("no item", argv[4], file=sys.stderr)
        return 1
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
