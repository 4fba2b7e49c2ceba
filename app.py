"""Launch the policyqa web app: ``python app.py [--host H] [--port P] [--corpus DIR]
[--index-dir DIR] [--auth user:password]``. Builds the index first if it is missing or stale
(progress on stderr), then serves the page (default http://127.0.0.1:7860)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "src"))  # run from a fresh clone

from policyqa.config import load_settings  # noqa: E402
from policyqa.errors import PolicyQAError  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="policyqa 教育政策文件问答网页")
    p.add_argument("--host", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default 7860)")
    p.add_argument("--corpus", type=Path, help="corpus folder (default corpus/)")
    p.add_argument("--index-dir", type=Path, help="index folder (default index/)")
    p.add_argument("--auth", help="require a login, as user:password")
    p.add_argument("--config", type=Path, help="TOML settings file")
    args = p.parse_args(argv)
    try:
        settings = load_settings(
            config_file=args.config, host=args.host, port=args.port, corpus=args.corpus,
            index_dir=args.index_dir, auth=args.auth,
        )
        from policyqa.web import serve

        serve(settings)
    except PolicyQAError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
