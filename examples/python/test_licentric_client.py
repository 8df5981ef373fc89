"""Tests of the Python client that need no agent: the socket path rule and the checks made
before anything is sent. (Against a real agent, and a misbehaving one, it is tested by the
Rust end-to-end tests in tests/e2e.) Run: python3 -m unittest discover -s examples/python"""
import json
import os
import socket
import tempfile
import threading
import time
import unittest
from unittest import mock

import licentric_client as lc


class SocketPath(unittest.TestCase):
    def test_follows_the_design(self):
        env = {"XDG_RUNTIME_DIR": "/run/user/1000", "HOME": "/home/ada"}
        with mock.patch.dict(os.environ, env, clear=True):
            self.assertEqual(lc.default_socket("acme-cad", "live"), "/run/user/1000/licentric/acme-cad-live.sock")
        with mock.patch.dict(os.environ, {"HOME": "/home/ada"}, clear=True), mock.patch.object(lc.sys, "platform", "linux"):
            self.assertEqual(lc.default_socket("acme-cad", "test"), "/home/ada/.cache/licentric/acme-cad-test.sock")
        with mock.patch.dict(os.environ, {"LICENTRIC_SOCKET": "/x/y.sock"}, clear=True):
            self.assertEqual(lc.default_socket("acme-cad"), "/x/y.sock")


class Checks(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)

    def folder(self, mode):
        path = os.path.join(self.tmp.name, f"run-{mode:o}")
        os.mkdir(path)
        os.chmod(path, mode)
        return path

    def test_a_missing_folder_means_no_agent(self):
        with self.assertRaises(lc.NotRunning):
            lc.check_folder(os.path.join(self.tmp.name, "nothing", "s.sock"))

    def test_a_folder_open_to_others_is_refused(self):
        with self.assertRaises(lc.UnsafeEndpoint) as caught:
            lc.check_folder(os.path.join(self.folder(0o777), "s.sock"))
        self.assertEqual(caught.exception.code, "endpoint_open_to_others")

    def test_a_link_is_refused(self):
        link = os.path.join(self.tmp.name, "link")
        os.symlink(self.folder(0o700), link)
        with self.assertRaises(lc.UnsafeEndpoint) as caught:
            lc.check_folder(os.path.join(link, "s.sock"))
        self.assertEqual(caught.exception.code, "endpoint_not_a_folder")

    def test_a_silent_agent_is_a_timeout_not_entitled(self):
        path = os.path.join(self.folder(0o700), "s.sock")
        server = socket.socket(socket.AF_UNIX)
        server.bind(path)
        server.listen(1)

        def answer_version_then_nothing():
            conn, _ = server.accept()
            conn.recv(4096)
            conn.sendall(b'{"jsonrpc":"2.0","id":1,"result":{"protocol":1,"product_id":"p","environment":"test"}}\n')
            conn.recv(4096)  # the question, never answered
            threading.Event().wait(5)

        threading.Thread(target=answer_version_then_nothing, daemon=True).start()
        client = lc.Client(path, "p", "test", timeout=0.5)
        self.addCleanup(client.close)
        with self.assertRaises(lc.LicentricError) as caught:
            client.has_entitlement("pro")
        self.assertEqual(caught.exception.code, "timeout")


class WatcherFromMemory(unittest.TestCase):
    """A fake agent that answers, pushes a change, and hangs up: the watcher follows, says no
    while the agent is gone, and reconnects."""

    def test_follows_pushes_and_never_keeps_a_stale_yes(self):
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        folder = os.path.join(tmp.name, "run")
        os.mkdir(folder, 0o700)
        path = os.path.join(folder, "s.sock")
        server = socket.socket(socket.AF_UNIX)
        server.bind(path)
        server.listen(4)
        self.addCleanup(server.close)
        licensed = {"state": "active", "entitled": True, "entitlements": ["pro"],
                    "offline_valid_until": "2999-01-01T00:00:00Z", "license_expires_at": None}
        push = threading.Event()
        hang_up = threading.Event()
        done = threading.Event()
        self.addCleanup(done.set)

        def agent(conn, status):
            lines = conn.makefile("rb")
            for request_id in (1, 2):  # version, then subscribe
                request = json.loads(lines.readline())
                result = ({"protocol": 1, "product_id": "p", "environment": "test"} if request["method"] == "version"
                          else {"status": status})
                conn.sendall(json.dumps({"jsonrpc": "2.0", "id": request["id"], "result": result}).encode() + b"\n")
            return conn

        def serve():
            conn = agent(server.accept()[0], licensed)
            push.wait(5)
            changed = dict(licensed, entitlements=["pro", "export-pdf"])
            conn.sendall(json.dumps({"jsonrpc": "2.0", "method": "status_changed", "params": changed}).encode() + b"\n")
            hang_up.wait(5)
            conn.close()
            again = agent(server.accept()[0], dict(licensed, entitled=False, state="suspended"))
            done.wait(5)  # held open until the test ends
            again.close()

        threading.Thread(target=serve, daemon=True).start()
        watcher = lc.Watcher(path, "p", "test")
        self.addCleanup(watcher.close)

        def until(what):
            deadline = time.monotonic() + 5
            while not what():
                generation = watcher.generation()
                left = deadline - time.monotonic()
                self.assertGreater(left, 0, f"never: {watcher.status()} {watcher.reason()}")
                watcher.wait_for_change(generation, left)

        until(watcher.is_entitled)
        self.assertTrue(watcher.has_entitlement("pro"))
        self.assertFalse(watcher.has_entitlement("export-pdf"))
        push.set()
        until(lambda: watcher.has_entitlement("export-pdf"))
        hang_up.set()
        until(lambda: watcher.status() is None)  # gone: unknown, and so no
        self.assertFalse(watcher.is_entitled())
        until(lambda: watcher.status() is not None)  # back: what it says now
        self.assertFalse(watcher.is_entitled())
        self.assertEqual(watcher.status()["state"], "suspended")

    def test_a_yes_ends_with_the_offline_period(self):
        self.assertLess(lc._ends({"offline_valid_until": "2001-01-01T00:00:00Z"}), time.time())
        self.assertEqual(lc._ends({"offline_valid_until": "soon"}), 0.0)
        self.assertLess(lc._ends({"offline_valid_until": "2999-01-01T00:00:00Z", "license_expires_at": "2030-01-01T00:00:00Z"}),
                        lc._ends({"offline_valid_until": "2999-01-01T00:00:00Z"}))


class FloatingSeat(unittest.TestCase):
    """A fake agent: the seat is asked for with its entitlement, given back when the block
    ends, and the connection closed."""

    def test_a_seat_is_given_back_when_the_block_ends(self):
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        folder = os.path.join(tmp.name, "run")
        os.mkdir(folder, 0o700)
        path = os.path.join(folder, "s.sock")
        server = socket.socket(socket.AF_UNIX)
        server.bind(path)
        server.listen(1)
        self.addCleanup(server.close)
        asked = []
        closed = threading.Event()

        def agent():
            conn = server.accept()[0]
            lines = conn.makefile("rb")
            while True:
                line = lines.readline()
                if not line:
                    closed.set()
                    return
                request = json.loads(line)
                asked.append((request["method"], request.get("params")))
                result = {
                    "version": {"protocol": 1, "product_id": "p", "environment": "test"},
                    "checkout": {"expires_at": "2999-01-01T00:15:00Z", "seats_in_use": 3, "max_seats": 10,
                                 "entitlements": ["pro"]},
                    "release": {"released": True},
                }[request["method"]]
                conn.sendall(json.dumps({"jsonrpc": "2.0", "id": request["id"], "result": result}).encode() + b"\n")

        threading.Thread(target=agent, daemon=True).start()
        with lc.Client(path, "p", "test").checkout("pro") as seat:
            self.assertEqual((seat.seats_in_use, seat.max_seats, seat.entitlements), (3, 10, ["pro"]))
        self.assertTrue(closed.wait(5), "the connection is closed after the block")
        self.assertEqual(asked, [("version", None), ("checkout", {"entitlement": "pro"}), ("release", None)])


if __name__ == "__main__":
    unittest.main()
