"""Run the emulator on a werkzeug threaded server, in the foreground or in a background thread."""

import threading

from werkzeug.serving import make_server

from .app import create_app
from .state import State


class EmulatorServer:
    """An emulator on `host:port` (port 0 picks a free one). Authority = base_url,
    Graph = base_url + "/v1.0"."""

    def __init__(self, tenant="demo", host="127.0.0.1", port=0, seed=None):
        self.state = State(tenant, seed)
        self.app = create_app(self.state)
        self._server = make_server(host, port, self.app, threaded=True)
        self.host, self.port = host, self._server.server_port
        self.base_url = f"http://{host}:{self.port}"
        self._thread = None

    @property
    def graph_url(self):
        """Base URL of the emulated Graph v1.0."""
        return self.base_url + "/v1.0"

    def start(self):
        """Serve in a daemon thread; returns self."""
        self._thread = threading.Thread(
            target=self._server.serve_forever, daemon=True, name=f"m365-emulator-{self.port}"
        )
        self._thread.start()
        return self

    def serve_forever(self):
        """Serve in the current thread until interrupted."""
        self._server.serve_forever()

    def stop(self):
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()
        if self._thread:
            self._thread.join(timeout=5)
