"""A minimal OpenAI-compatible /v1/chat/completions over a GGUF model, for the tests.

Usage: python tests/openai_endpoint.py MODEL.gguf REQUESTS_LOG.jsonl   (prints the port, then serves)
"""

import json
import re
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import xllamacpp


def main(gguf: str, log_path: str) -> None:
    params = xllamacpp.CommonParams()
    params.model.path = gguf
    params.cpuparams.n_threads = 2
    model = xllamacpp.Server(params)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with open(log_path, "a", encoding="utf-8") as log:
                log.write(json.dumps(request, ensure_ascii=False) + "\n")
            reply = model.handle_chat_completions({**request, "stream": False})
            if request.get("stream"):
                # Server-sent events, one word a chunk, from the complete reply (see qa/generate.py
                # on xllamacpp streams that end early).
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                for piece in re.findall(r"\S+\s*", reply["choices"][0]["message"]["content"] or ""):
                    chunk = {"choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.write(b"data: [DONE]\n\n")
                return
            body = json.dumps(reply).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
