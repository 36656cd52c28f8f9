"""Installation of the mmseg_cbsa plugin.

The heavy, hardware-specific stack (torch, mmcv with ops) is installed by
``tools/install.sh``; ``install_requires`` only names what pip can resolve
without rebuilding it.
"""
from pathlib import Path

from setuptools import find_packages, setup


def read_version() -> str:
    namespace: dict = {}
    exec((Path(__file__).parent / 'mmseg_cbsa' / 'version.py').read_text(), namespace)
    return namespace['__version__']


setup(
    name='mmseg_cbsa',
    version=read_version(),
    description='Contract-and-Broadcast Self-Attention (CBSA) and the white-box '
                'attention family for mmsegmentation',
    long_description=Path('README.md').read_text() if Path('README.md').exists() else '',
    long_description_content_type='text/markdown',
    packages=find_packages(exclude=('configs', 'tools', 'demo', 'tests')),
    python_requires='>=3.9',
    install_requires=['mmsegmentation>=1.2.2', 'mmengine>=0.10.7', 'mmpretrain>=1.2.0'],
    extras_require={'tests': ['pytest>=8', 'pytest-xdist', 'timm>=1.0']},
    license='MIT',
    zip_safe=False,
)
