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
MIM_FILES = ('configs', 'tools', 'data/coco_tiny', 'data/coco_mini',
             'data/crowdpose_tiny')


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
    python_requires='>=3.8',
    # What the code supports, not one pin. Version-dependent code (torch's
    # weights_only / safe_globals, numpy 2's numpy._core) is guarded by
    # feature checks. Tested on two stacks (tools/setup_env.sh, README
    # "Installation facts"): main = torch 2.13.0, torchvision 0.28.0,
    # numpy 2.2.6; legacy = torch 2.1.2, torchvision 0.16.2, numpy 1.26.4;
    # both with mmcv 2.1.0 (built from source), mmengine 0.10.7, mmdet 3.3.0,
    # mmpose 1.3.2 on Python 3.11. The upper bounds: torch 2.14+ headers need
    # C++20, which mmcv 2.1.0's build does not use; mmdet 3.x refuses
    # mmcv >= 2.2. Into an existing mmpose environment install with
    # --no-deps so that its torch / mmcv stay as they are.
    install_requires=[
        'torch>=2.0,<2.14',
        'torchvision>=0.15,<0.29',
        'numpy>=1.24,<2.3',
        'mmengine>=0.8,<1.0',
        'mmcv>=2.0.0,<2.2.0',
        'mmdet>=3.0,<3.4',
        'mmpose>=1.1,<1.4',
        'pycocotools',
        'xtcocotools>=1.12',
    ],
    extras_require={
        'tests': ['pytest', 'ruff'],
        'mim': ['openmim>=0.3.9'],
        # ONNX export and checking the exported model. torch >= 2.9 exports
        # through onnxscript by default (torch.onnx.export(dynamo=True));
        # those torch versions need Python >= 3.10, older ones export with
        # TorchScript and do not use it.
        'deploy': [
            'onnx', 'onnxruntime', 'onnxscript; python_version >= "3.10"'
        ],
    },
    zip_safe=False,
)
