"""Write expectation files from the current parse output, for review in the diff:

    python -m channels_app.tests.platforms.contract --write <platform> [<name>...]

Without names, every fixture of the platform (new ones included) is written.
"""

import argparse
import os
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m channels_app.tests.platforms.contract"
    )
    parser.add_argument("--write", metavar="PLATFORM", required=True)
    parser.add_argument("names", nargs="*", help="fixture names (default: all)")
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pingback.settings")
    os.environ.setdefault("PINGBACK_ALLOW_DEV_KEYS", "1")
    import django

    django.setup()
    from channels_app.tests.platforms.contract.expectations import write
    from channels_app.tests.platforms.contract.kits import KITS
    from channels_app.tests.platforms.contract.outcome import outcome

    kit = KITS.get(args.write)
    if kit is None:
        parser.error(f"no kit for {args.write!r}; kits: {', '.join(sorted(KITS))}")
    names = args.names or kit.names()
    unknown = sorted(set(names) - set(kit.names()))
    if unknown:
        parser.error(f"no such fixture of {kit.platform}: {', '.join(unknown)}")
    for name in names:
        print(write(kit.fixture(name), outcome(kit, name)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
