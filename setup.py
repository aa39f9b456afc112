"""Packaging for posekit_plugins.

Like mmpose, the configs and tools are shipped inside the installed package
(``posekit_plugins/.mim``) so that ``mim train posekit_plugins <cfg>`` and
``mim test`` find them from any working directory.
"""
import os
import os.path as osp
import shutil

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

ROOT = osp.dirname(osp.abspath(__file__))
MIM_FILES = ('configs', 'tools', 'data/coco_tiny', 'data/coco_mini')


def get_version() -> str:
    scope: dict = {}
    with open(osp.join(ROOT, 'posekit_plugins', 'version.py')) as f:
        exec(f.read(), scope)
    return scope['__version__']


class BuildPyWithMim(build_py):
    """Copy configs/, tools/ and the shipped demo data into ``.mim``."""

    def run(self) -> None:
        super().run()
        mim_dir = osp.join(self.build_lib, 'posekit_plugins', '.mim')
        for rel in MIM_FILES:
            src = osp.join(ROOT, rel)
            if not osp.exists(src):
                continue
            dst = osp.join(mim_dir, rel)
            if osp.exists(dst):
                shutil.rmtree(dst)
            os.makedirs(osp.dirname(dst), exist_ok=True)
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns('__pycache__'))


setup(
    name='posekit_plugins',
    version=get_version(),
    description='YOLO-Pose, KAPAO, DARK and SWAHR as mmpose plugins',
    long_description=open(osp.join(ROOT, 'README.md')).read(),
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    packages=find_packages(exclude=('configs', 'tools', 'tests', 'benchmarks')),
    cmdclass={'build_py': BuildPyWithMim},
    python_requires='>=3.11',
    # Tested with exactly torch 2.13.0, torchvision 0.28.0, mmengine 0.10.7,
    # mmcv 2.1.0 (built from source), mmdet 3.3.0, mmpose 1.3.2, numpy 2.2.6
    # on Python 3.11 (tools/setup_env.sh); the ranges stay within the minor
    # versions tested. The stack is best installed by tools/setup_env.sh
    # (see README, "Installation facts"), then this package with --no-deps.
    install_requires=[
        'torch>=2.13,<2.14',
        'torchvision>=0.28,<0.29',
        'mmengine>=0.10.7,<0.11',
        'mmcv>=2.1.0,<2.2.0',
        'mmdet>=3.3.0,<3.4.0',
        'mmpose>=1.3.2,<1.4.0',
        'numpy>=2.0,<2.3',
        'pycocotools',
        'xtcocotools>=1.12',
    ],
    extras_require={'tests': ['pytest', 'ruff'], 'mim': ['openmim>=0.3.9']},
    zip_safe=False,
)
