"""The playground's web server: a Starlette (ASGI) app that serves the page and keeps one
:class:`~deltaprop.playground.session.Session` per browser tab.

A tab opens a WebSocket (``/ws``); the server makes its session and answers each JSON
message (setup, step, epoch, reset, add a point, inspect a neuron, the trace) with what
the page draws. Closing the tab closes the socket and drops the session. Files travel
over plain HTTP with the session's id: the model, the trace and the Python code down,
a CSV or a model file up (a body of at most ``max_upload`` bytes, never a path: the
server reads and writes no file the page names). Training runs in a worker thread, so
tabs train side by side, each under its own lock.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias, TypedDict, TypeVar

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket, WebSocketDisconnect

from .. import __version__
from ..errors import DeltapropError, InputError
from . import session as _session
from .session import PlaygroundError, Session

if TYPE_CHECKING:
    from ..network import Network

STATIC = Path(__file__).resolve().parent / "static"
#: Largest upload (a CSV or a model file) the server accepts, in bytes.
MAX_UPLOAD = 10 * 2**20
TRACE_TYPES = {"json": "application/json", "md": "text/markdown", "tex": "application/x-tex",
               "txt": "text/plain", "html": "text/html"}
_log = logging.getLogger("deltaprop.playground")
TRACE_FORMATS = {"json": "json", "md": "markdown", "tex": "latex", "txt": "text", "html": "html"}
_T = TypeVar("_T")
#: A live session and its lock.
_Entry: TypeAlias = "tuple[Session, anyio.Lock]"


def choices() -> dict:
    """What the page may offer (from the library's own registries)."""
    return {"sources": [*_session.SYNTHETIC, *_session.EXAMPLES, "csv"], "activations": list(_session.ACTIVATIONS),
            "outputs": list(_session.OUTPUTS), "losses": list(_session.LOSSES), "optimizers": list(_session.OPTIMIZERS),
            "inits": list(_session.INITS), "schedules": ["step", "exponential", "cosine"],
            "notations": list(_session.NOTATIONS), "limits": _session.LIMITS, "hard_limits": _session.HARD_LIMITS,
            "version": __version__}


class _Sessions:
    """The live sessions, each with its lock (the socket and the uploads take turns)."""

    def __init__(self) -> None:
        self.live: dict[str, tuple[Session, anyio.Lock]] = {}

    def get(self, sid: str) -> _Entry | None:
        return self.live.get(sid)


def create_app(*, model: str | os.PathLike[str] | None = None, data: str | os.PathLike[str] | None = None,
               max_upload: int = MAX_UPLOAD) -> Starlette:
    """The app. ``model`` and ``data`` are files the person starting the server named (a
    model to start from, a CSV to start with), read here once: a bad one stops the start
    with the loader's error. The page can never name a file."""
    sessions = _Sessions()
    start = _starting_point(model, data)

    async def page(request: Request) -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    async def run(entry: _Entry, fn: Callable[..., _T], *args: Any) -> _T:
        session, lock = entry
        async with lock:
            return await anyio.to_thread.run_sync(fn, *args)

    async def socket(ws: WebSocket) -> None:
        await ws.accept()
        sid = secrets.token_urlsafe(16)
        try:
            new = await anyio.to_thread.run_sync(lambda: Session(sid, **start))
        except (DeltapropError, OSError) as e:
            await ws.send_json({"type": "error", "message": f"The playground could not start: {e}"})
            await ws.close()
            return
        entry = (new, anyio.Lock())
        sessions.live[sid] = entry
        try:
            await ws.send_text(json.dumps({"type": "session", "id": sid, "choices": choices(),
                                           "state": new.state(full=True)}))
            while True:
                try:
                    message = json.loads(await ws.receive_text())
                except ValueError:
                    await ws.send_json({"type": "error", "message": "The page sent something that is not JSON."})
                    continue
                reply = await _answer(entry, run, message)
                if isinstance(message, dict) and "id" in message:
                    reply["id"] = message["id"]
                await ws.send_text(json.dumps(reply))
        except WebSocketDisconnect:
            pass
        finally:
            sessions.live.pop(sid, None)          # a closed tab's state is freed

    def entry_of(request: Request) -> _Entry:
        entry = sessions.get(request.path_params["sid"])
        if entry is None:
            raise _NotFound()
        return entry

    async def model_file(request: Request) -> Response:
        entry = entry_of(request)
        blob = await run(entry, entry[0].model_bytes)
        return Response(blob, media_type="application/octet-stream",
                        headers={"Content-Disposition": 'attachment; filename="playground.dpz"'})

    async def trace_file(request: Request) -> Response:
        entry = entry_of(request)
        ext = request.path_params["ext"]
        if ext not in TRACE_FORMATS:
            return JSONResponse({"message": f"No trace as .{ext}; take one of {', '.join(TRACE_FORMATS)}."}, 404)
        notation = request.query_params.get("notation", "nielsen")
        level = request.query_params.get("level", "matrix")

        def render():
            trace = entry[0].trace()
            return trace.render(TRACE_FORMATS[ext], level=level, notation=notation)
        try:
            text = await run(entry, render)
        except (PlaygroundError, DeltapropError) as e:
            return JSONResponse({"message": str(e)}, 400)
        return Response(text, media_type=TRACE_TYPES[ext],
                        headers={"Content-Disposition": f'attachment; filename="step.{ext}"'})

    async def code_file(request: Request) -> Response:
        entry = entry_of(request)
        text = await run(entry, entry[0].code)
        return Response(text, media_type="text/x-python",
                        headers={"Content-Disposition": 'attachment; filename="playground.py"'})

    async def upload(request: Request) -> Response:
        entry = entry_of(request)
        kind = request.path_params["kind"]
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_upload:
            return JSONResponse({"message": _too_big(int(declared), max_upload)}, 413)
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > max_upload:
                return JSONResponse({"message": _too_big(len(body), max_upload)}, 413)
        target = request.query_params.get("target") or None
        fn = {"csv": lambda: entry[0].load_csv_bytes(bytes(body), target),
              "model": lambda: entry[0].load_model_bytes(bytes(body))}.get(kind)
        if fn is None:
            return JSONResponse({"message": f"Nothing to upload as {kind!r}."}, 404)
        try:
            state = await run(entry, fn)
        except (PlaygroundError, DeltapropError) as e:
            return JSONResponse({"message": str(e)}, 400)
        return Response(json.dumps(state), media_type="application/json")

    async def not_found(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"message": "No such session (the tab was closed, or the server restarted): reload "
                                        "the page."}, 404)

    routes = [
        Route("/", page),
        WebSocketRoute("/ws", socket),
        Route("/api/{sid}/model.dpz", model_file),
        Route("/api/{sid}/trace.{ext}", trace_file),
        Route("/api/{sid}/code.py", code_file),
        Route("/api/{sid}/upload/{kind}", upload, methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(routes=routes, exception_handlers={_NotFound: not_found})
    app.state.sessions = sessions
    return app


class _Start(TypedDict):
    """What every session starts from: :class:`Session`'s keyword arguments."""

    model: Network | None
    csv_text: str | None


def _starting_point(model: str | os.PathLike[str] | None, data: str | os.PathLike[str] | None) -> _Start:
    """The model and CSV text given on the command line, checked by building a session."""
    from .. import _files
    from .. import io as _io
    start: _Start = {"model": None if model is None else _io.load(model), "csv_text": None}
    if data is not None:
        with _files.open_for_reading(data, what="CSV file", text=True, encoding="utf-8-sig") as f:
            try:
                start["csv_text"] = f.read()
            except UnicodeDecodeError as e:
                raise InputError(f"The CSV file '{data}' is not UTF-8 text (byte {e.start}).") from None
    try:
        Session("check", **start)
    except DeltapropError as e:
        raise PlaygroundError(f"The playground cannot start from {data or model}: {e}") from None
    return start


class _NotFound(Exception):
    pass


def _too_big(size: int, limit: int) -> str:
    return (f"The file is too big for the playground ({size / 2**20:.1f} MiB; at most {limit / 2**20:.0f} MiB; "
            "start it with deltaprop playground --max-upload to raise the limit).")


async def _answer(entry: _Entry, run: Callable[..., Awaitable[Any]], message: object) -> dict:
    """The reply to one message of the page: its fields are read first (a malformed message
    is the page's mistake), then the session does the work (its errors are the user's)."""
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        return {"type": "error", "message": "A message must be an object with a \"type\"."}
    kind = message["type"]
    if kind not in _MESSAGES:
        return {"type": "error", "message": f"Unknown message type {kind!r}; the server knows "
                                            f"{', '.join(_MESSAGES)}."}
    try:
        fn, args = _MESSAGES[kind](entry[0], message)
    except (KeyError, TypeError, ValueError) as e:
        return {"type": "error", "message": f"The page's {kind!r} message is not one the server understands ({e})."}
    try:
        return await run(entry, fn, *args)
    except (PlaygroundError, DeltapropError) as e:
        return {"type": "error", "message": str(e)}
    except Exception as e:            # a bug of ours: say so on the page, keep the tab's socket open
        _log.exception("playground: %r message failed", kind)
        return {"type": "error", "message": f"Internal error in the server ({type(e).__name__}: {e}); the details "
                                            "are in the terminal that runs deltaprop playground."}


def _trace_html(session, message):
    notation, level = str(message.get("notation", "nielsen")), str(message.get("level", "matrix"))
    if message.get("example"):
        def render():
            trace = session.example_trace()
            if trace is None:
                raise PlaygroundError("The source's figures are for the worked examples only.")
            return {"type": "trace", "html": trace.render("html", level="neuron",
                                                          notation=session.config["data"]["source"])}
    else:
        def render():
            return {"type": "trace", "html": session.trace().render("html", level=level, notation=notation)}
    return render, ()


def _optional_int(value):
    return None if value is None else int(value)


#: Each message type: how to read its fields into a call of the session.
_MESSAGES = {
    "setup": lambda s, m: (s.setup, (m.get("config") or {},)),
    "step": lambda s, m: (s.step, (int(m.get("batches", 1)),)),
    "epoch": lambda s, m: (s.epoch, ()),
    "reset": lambda s, m: (s.reset, ()),
    "add_point": lambda s, m: (s.add_point, (float(m["x"]), float(m["y"]), int(m["label"]))),
    "inspect": lambda s, m: (s.inspect, (int(m["layer"]), int(m["neuron"]), str(m.get("notation", "nielsen")),
                                         _optional_int(m.get("edge")))),
    "trace": _trace_html,
    "state": lambda s, m: (s.state, (bool(m.get("full")),)),
}
