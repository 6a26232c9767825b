"""Ships ``configs/`` and ``strategies/`` inside the wheel as ``hybridmatch/_data/``.

They stay at the top of the repository (data next to the library, not in it), so the build copies
them in; ``hybridmatch.catalog.data_root`` finds the copy in an installed package and the checkout's
folders in an editable one."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

DATA = ("configs", "strategies")


class BuildWithData(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode:  # an editable install reads the checkout's own folders
            return
        root = Path(__file__).resolve().parent
        for folder in DATA:
            shutil.copytree(root / folder, Path(self.build_lib) / "hybridmatch" / "_data" / folder, dirs_exist_ok=True)


setup(cmdclass={"build_py": BuildWithData})
