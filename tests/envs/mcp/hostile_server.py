"""A small MCP server over stdio that misbehaves on request (for the failure tests).

Plain JSON-RPC, no mcp import, so it starts in milliseconds. ``python hostile_server.py
MODE``: ``ok`` serves; ``exit`` exits at once; ``hang`` never answers; ``garbage`` answers
the first message with a line that is not JSON-RPC; ``flood`` with 8 MB and no newline;
``spawn`` starts a grandchild (its pid written to the file ``$HOSTILE_PID_FILE``), then
serves; ``weird_tools`` lists tools with bad names and a huge description. Its tools
misbehave by name: ``hang``, ``crash``, ``garbage``, ``flood`` as above, mid-session;
``big`` returns 100,000 characters; ``fail`` is an ``isError`` result; ``reject`` a
JSON-RPC error; ``echo`` returns its text.
"""

import json
import os
import subprocess
import sys
import time

TOOLS = [
    {
        "name": "echo",
        "description": "Return the text.",
        "inputSchema": {
            "type": "object",
            "properties": {"text": {"type": "string"}},
            "required": ["text"],
        },
    },
    *(
        {"name": name, "description": f"Misbehave: {name}.", "inputSchema": {"type": "object"}}
        for name in ("hang", "crash", "garbage", "flood", "big", "fail", "reject")
    ),
]

#: Tools no client should take as they are: names past MCP's rule, 100,000 characters of
#: description.
WEIRD_TOOLS = [
    {"name": "n" * 1000, "description": "too long a name", "inputSchema": {"type": "object"}},
    {"name": "bad name!", "description": "a space", "inputSchema": {"type": "object"}},
    {"name": "odd", "description": "d" * 100_000, "inputSchema": {"type": "object"}},
]


def send(message: dict) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def misbehave(how: str) -> None:
    if how == "hang":
        time.sleep(3600)
    if how == "crash":
        os._exit(1)
    if how == "garbage":
        sys.stdout.write("Traceback (most recent call last): this is not JSON-RPC\n")
    if how == "flood":
        sys.stdout.write("x" * (8 << 20))
    sys.stdout.flush()


def answer(request: dict) -> None:
    method, rid = request.get("method"), request["id"]
    params = request.get("params") or {}
    if method == "initialize":
        result = {
            "protocolVersion": params.get("protocolVersion"),
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "hostile", "version": "0"},
        }
    elif method == "tools/list":
        result = {"tools": WEIRD_TOOLS if sys.argv[1:] == ["weird_tools"] else TOOLS}
    elif method == "ping":
        result = {}
    elif method == "tools/call":
        name, arguments = params.get("name"), params.get("arguments") or {}
        if name in ("hang", "crash", "garbage", "flood"):
            misbehave(name)
            time.sleep(3600)
        if name == "reject":
            send({"jsonrpc": "2.0", "id": rid, "error": {"code": -32602, "message": "no, thanks"}})
            return
        text = {"echo": str(arguments.get("text")), "big": "y" * 100_000, "fail": "it broke"}
        if name not in text:
            send({"jsonrpc": "2.0", "id": rid, "error": {"code": -32602, "message": "unknown"}})
            return
        content = [{"type": "text", "text": text[name]}]
        result = {"content": content, "isError": name == "fail"}
    else:
        send({"jsonrpc": "2.0", "id": rid, "error": {"code": -32601, "message": "no method"}})
        return
    send({"jsonrpc": "2.0", "id": rid, "result": result})


def main() -> None:
    mode = sys.argv[1] if len(sys.argv) > 1 else "ok"
    if mode == "exit":
        sys.exit(3)
    if mode == "spawn":
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
        with open(os.environ["HOSTILE_PID_FILE"], "w") as file:
            file.write(str(child.pid))
    for line in sys.stdin:
        if mode == "hang":
            continue
        if mode in ("garbage", "flood"):
            misbehave(mode)
            time.sleep(3600)
        request = json.loads(line)
        if "id" in request and "method" in request:
            answer(request)


if __name__ == "__main__":
    main()
