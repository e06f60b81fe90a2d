"""One page for a sweep or a run: ``python src/report.py logs/multiruns/<sweep>`` writes
``<sweep>/report.html`` (a table of the swept values and how each job ended, plots, the last
sample grids). Without a folder: the newest sweep, else the newest run, under logs/."""

import argparse
import sys
from pathlib import Path

from ganlab.run_folders.resolvers import project_root
from ganlab.reporting.sweep_page import write_page


def newest(logs: Path) -> Path | None:
    for group in ("multiruns", "runs"):
        folders = sorted(p for p in (logs / group).glob("*") if p.is_dir()) if (logs / group).is_dir() else []
        if folders:
            return folders[-1]
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", nargs="?", help="a sweep folder (logs/multiruns/<time>) or a run folder")
    folder = parser.parse_args().folder
    if folder is None:
        found = newest(Path(project_root()) / "logs")
        if found is None:
            sys.exit("no runs under logs/ yet: train one (make train), or give a folder")
        folder = found
    try:
        out = write_page(folder)
    except (FileNotFoundError, ValueError) as err:
        sys.exit(str(err))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
