"""Installation of the mmseg_cbsa plugin.

The heavy, hardware-specific stack (torch, mmcv with ops) is installed by
``tools/install.sh``; ``install_requires`` only names what pip can resolve
without rebuilding it.

As mmseg does, the configs, tools and model index travel with the package in
``mmseg_cbsa/.mim/`` (symbolic links into the checkout for an editable
install, copies in a wheel or sdist): mmengine reads ``mmseg_cbsa::``
configs and the inferencers read ``model-index.yml`` from there.
"""
import os
import shutil
import sys
from pathlib import Path

from setuptools import find_packages, setup


def read_version() -> str:
    namespace: dict = {}
    exec((Path(__file__).parent / 'mmseg_cbsa' / 'version.py').read_text(), namespace)
    return namespace['__version__']


MIM_FILES = ('configs', 'tools', 'model-index.yml')


def add_mim_extension() -> None:
    """Populate ``mmseg_cbsa/.mim`` from the checkout: links when installed
    in place (``develop``, or pip's PEP 660 ``editable_wheel``), copies when
    building a distribution; other commands (``egg_info``...) leave it alone."""
    if {'develop', 'editable_wheel'} & set(sys.argv):
        link = True
    elif {'sdist', 'bdist_wheel', 'build', 'install'} & set(sys.argv):
        link = False
    else:
        return
    root = Path(__file__).resolve().parent
    mim = root / 'mmseg_cbsa' / '.mim'
    mim.mkdir(exist_ok=True)
    for name in MIM_FILES:
        src, dst = root / name, mim / name
        if dst.is_symlink() or dst.is_file():
            dst.unlink()
        elif dst.is_dir():
            shutil.rmtree(dst)
        if link:
            # relative, so that the checkout can move
            os.symlink(os.path.relpath(src, mim), dst)
        elif src.is_dir():
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))
        else:
            shutil.copyfile(src, dst)


def read_requirements(name: str) -> list:
    """The requirement lines of requirements/NAME, following ``-r`` includes."""
    out = []
    for line in (Path('requirements') / name).read_text().splitlines():
        line = line.split('#')[0].strip()
        if line.startswith('-r '):
            out += read_requirements(line[3:].strip())
        elif line:
            out.append(line)
    return out


add_mim_extension()
setup(
    # the distribution is not named like the module (as mmsegmentation / mmseg):
    # mmengine then finds the module where Python imports it from (editable
    # installs included) for `mmseg_cbsa::` config paths and the model index
    name='mmsegmentation-cbsa',
    version=read_version(),
    description='Contract-and-Broadcast Self-Attention (CBSA) and the white-box '
    'attention family for mmsegmentation',
    long_description=Path('README.md').read_text() if Path('README.md').exists() else '',
    long_description_content_type='text/markdown',
    packages=find_packages(exclude=('configs', 'tools', 'demo', 'tests')),
    # the copies made by add_mim_extension (MANIFEST.in does the same for the sdist)
    package_data={
        'mmseg_cbsa': [
            '.mim/model-index.yml', '.mim/configs/**/*.py', '.mim/configs/**/*.yaml',
            '.mim/configs/**/*.md', '.mim/tools/**/*.py', '.mim/tools/**/*.sh'
        ]
    },
    author='mmseg_cbsa contributors',
    # the paper and the authors' code this package implements (it has no
    # public home of its own yet)
    url='https://arxiv.org/abs/2509.16875',
    project_urls={
        'Paper': 'https://arxiv.org/abs/2509.16875',
        "Authors' implementation": 'https://github.com/QishuaiWen/CBSA',
        'mmsegmentation': 'https://github.com/open-mmlab/mmsegmentation',
    },
    keywords='computer vision, semantic segmentation, attention, white-box transformers, '
    'CBSA, mmsegmentation',
    classifiers=[
        'Development Status :: 4 - Beta',
        'Intended Audience :: Science/Research',
        'License :: OSI Approved :: MIT License',
        'Operating System :: POSIX :: Linux',
        'Programming Language :: Python :: 3',
        'Programming Language :: Python :: 3.9',
        'Programming Language :: Python :: 3.10',
        'Programming Language :: Python :: 3.11',
        'Topic :: Scientific/Engineering :: Artificial Intelligence',
        'Topic :: Scientific/Engineering :: Image Recognition',
    ],
    python_requires='>=3.9',
    install_requires=['mmsegmentation>=1.2.2', 'mmengine>=0.10.7', 'mmpretrain>=1.2.0'],
    # the pinned sets live in requirements/ (tools/install.sh installs them)
    extras_require={
        'deploy': read_requirements('deploy.txt'),
        'web': read_requirements('web.txt'),
        'lint': read_requirements('lint.txt'),
        'tests': read_requirements('tests.txt'),
    },
    license='MIT',
    zip_safe=False,
)
