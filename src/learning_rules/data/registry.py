"""``DATASETS``: every dataset the book uses, one entry each.

An entry (:class:`DatasetInfo`) holds what is needed to find, verify, download, parse and cite a
dataset: canonical URLs (first = primary, the rest mirrors), file names, pinned checksums, the
accepted alternative forms of each file (uncompressed payload, extracted folder), the splits and the
files each split reads, a reader (parser + the documented transformation), the license and the
citation.

Adding a dataset = one :class:`DatasetInfo` and, if its format is new, one parser in
:mod:`learning_rules.data.parsers`.

Checksums are those of the canonical downloads; for MNIST / Fashion-MNIST also those of the
uncompressed payloads, so a folder holding ``train-images-idx3-ubyte`` (no ``.gz``) is accepted and
verified too. The values agree with ``../shared/datasets/MANIFEST.json``.

Explained in: book/datasets.ipynb (Datasets).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._registry import Registry
from . import parsers

Reader = Callable[[Mapping[str, Path], str], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class FileForm:
    """One accepted on-disk form of a dataset file.

    ``name`` is a file name, or a folder name when ``members`` is given (then every member file
    is verified against its own checksum). A form may pin ``sha256``, ``md5`` or both; the
    verification uses sha256 when pinned, else md5.
    """

    name: str
    sha256: str | None = None
    md5: str | None = None
    size: int | None = None
    members: tuple[FileForm, ...] = ()

    @property
    def is_folder(self) -> bool:
        return bool(self.members)


@dataclass(frozen=True)
class DataFile:
    """A file a dataset reads: its canonical download form, URLs, and accepted alternatives.

    ``key`` is the name the dataset's reader uses ("train-images"); ``canonical`` is what gets
    downloaded from ``urls`` into the cache.
    """

    key: str
    canonical: FileForm
    urls: tuple[str, ...] = ()
    alternatives: tuple[FileForm, ...] = ()

    @property
    def forms(self) -> tuple[FileForm, ...]:
        return (self.canonical, *self.alternatives)

    def describe(self) -> str:
        """``name (or alt1, alt2)``, for messages."""
        alts = [f.name + ("/" if f.is_folder else "") for f in self.alternatives]
        return self.canonical.name + (f" (or {', '.join(alts)})" if alts else "")


@dataclass(frozen=True)
class DatasetInfo:
    """A registered dataset: where it comes from, which files it reads, how to parse and cite it.

    Attributes
    ----------
    name : registered name (``load(name)``).
    description : one paragraph.
    task : ``"classification"`` or ``"regression"``.
    folders : folder names searched under each data directory (first = download folder).
    files : the :class:`DataFile` entries.
    splits : split name -> keys of the files that split reads.
    reader : ``reader(paths_by_key, split) -> (X, y)``, raw (uint8 images, float64 tables).
    image_shape : per-sample shape for images (``(28, 28)``, ``(32, 32, 3)``), else ``None``.
    pixel_max : the raw value that means "full intensity" (255; 16 for digits).
    feature_names, target_name : column names of tabular datasets.
    license, citation, homepage : provenance.
    embedded : for data shipped inside an installed package, a function returning its files.
    """

    name: str
    description: str
    task: str
    folders: tuple[str, ...]
    files: tuple[DataFile, ...]
    splits: Mapping[str, tuple[str, ...]]
    reader: Reader
    license: str
    citation: str
    homepage: str
    image_shape: tuple[int, ...] | None = None
    pixel_max: int = 255
    feature_names: tuple[str, ...] = ()
    target_name: str = "label"
    n_classes: int | None = None
    embedded: Callable[[], list[Path]] | None = field(default=None, compare=False)

    def split_keys(self, split: str) -> tuple[str, ...]:
        """File keys that ``split`` reads; unknown split -> ``ValueError`` listing valid ones."""
        if split not in self.splits:
            raise ValueError(f"dataset {self.name!r} has no split {split!r}; "
                             f"valid splits: {', '.join(self.splits)}")
        return self.splits[split]

    def file(self, key: str) -> DataFile:
        for f in self.files:
            if f.key == key:
                return f
        raise KeyError(key)


DATASETS: Registry[DatasetInfo] = Registry("dataset")


def register(info: DatasetInfo) -> DatasetInfo:
    """Add ``info`` to :data:`DATASETS` under ``info.name``."""
    return DATASETS.register(info.name, info)


# --------------------------------------------------------------------------------------------------
# Readers: parser + the dataset's documented transformation
# --------------------------------------------------------------------------------------------------


def _read_idx_pair(paths: Mapping[str, Path], split: str) -> tuple[np.ndarray, np.ndarray]:
    images = parsers.read_idx(paths[f"{split}-images"])
    labels = parsers.read_idx(paths[f"{split}-labels"]).astype(np.int64)
    if images.ndim != 3 or labels.shape != (images.shape[0],):
        raise ValueError(f"IDX files of split {split!r} disagree: images {images.shape}, "
                         f"labels {labels.shape}")
    return images, labels


CIFAR_SPLITS = {"train": parsers.CIFAR_TRAIN_BATCHES, "test": parsers.CIFAR_TEST_BATCHES,
                **{b: (b,) for b in parsers.CIFAR_TRAIN_BATCHES}}


def _read_cifar(paths: Mapping[str, Path], split: str) -> tuple[np.ndarray, np.ndarray]:
    return parsers.read_cifar(paths["archive"], CIFAR_SPLITS[split])


def california_features(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's California-housing features and target from the StatLib columns.

    With the columns of ``cal_housing.data`` numbered 0..8 (``parsers.CAL_HOUSING_COLUMNS``):

    .. math::

        \\text{MedInc} = c_7,\\; \\text{HouseAge} = c_2,\\; \\text{AveRooms} = c_3 / c_6,\\;
        \\text{AveBedrms} = c_4 / c_6,\\; \\text{Population} = c_5,\\;
        \\text{AveOccup} = c_5 / c_6,\\; \\text{Latitude} = c_1,\\; \\text{Longitude} = c_0,\\;
        y = c_8 / 100\\,000

    (scikit-learn ``fetch_california_housing``, as described in ../shared/datasets/README.md;
    Pace & Barry 1997). Same float64 operations, so the values are bit-identical to scikit-learn's.

    Parameters
    ----------
    table : float64 (n, 9)

    Returns
    -------
    X : float64 (n, 8);  y : float64 (n,) in units of 100,000 dollars
    """
    c = table
    X = np.column_stack([c[:, 7], c[:, 2], c[:, 3] / c[:, 6], c[:, 4] / c[:, 6], c[:, 5],
                         c[:, 5] / c[:, 6], c[:, 1], c[:, 0]])
    y = c[:, 8] / 100000.0
    return X, y


def _read_california(paths: Mapping[str, Path], split: str) -> tuple[np.ndarray, np.ndarray]:
    return california_features(parsers.read_cal_housing(paths["data"]))


def _read_housing_csv(paths: Mapping[str, Path], split: str) -> tuple[np.ndarray, np.ndarray]:
    return parsers.read_housing_csv(paths["data"])


def _read_wine(paths: Mapping[str, Path], split: str) -> tuple[np.ndarray, np.ndarray]:
    return parsers.read_wine_csv(paths["data"])


def _digits_files() -> list[Path]:
    from importlib.resources import files

    return [Path(str(files("sklearn.datasets.data") / "digits.csv.gz"))]


def _read_digits(paths: Mapping[str, Path], split: str) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = bunch.images.astype(np.uint8)  # integer counts 0..16 stored as float by sklearn
    if not np.array_equal(images, bunch.images):
        raise ValueError("scikit-learn's digits are no longer integers 0..16; update the reader")
    return images, bunch.target.astype(np.int64)


# --------------------------------------------------------------------------------------------------
# Entries
# --------------------------------------------------------------------------------------------------

MNIST_MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/",
                 "http://yann.lecun.com/exdb/mnist/")
FASHION_MIRRORS = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",)

# name stem -> (sha256 .gz, md5 .gz, bytes .gz, sha256 payload, bytes payload)
MNIST_CHECKSUMS = {
    "train-images-idx3-ubyte": (
        "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "f68b3c2dcbeaaa9fbdd348bbdeb94873", 9912422,
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db", 47040016),
    "train-labels-idx1-ubyte": (
        "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "d53e105ee54ea40749a09fcbcd1e9432", 28881,
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5", 60008),
    "t10k-images-idx3-ubyte": (
        "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "9fb629c4189551a2d022fa330f9573f3", 1648877,
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7", 7840016),
    "t10k-labels-idx1-ubyte": (
        "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        "ec29112dd5afa0611ce80d1b7f02629c", 4542,
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2", 10008),
}
FASHION_CHECKSUMS = {
    "train-images-idx3-ubyte": (
        "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        "8d4fb7e6c68d591d4c3dfef9ec88bf0d", 26421880,
        "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888", 47040016),
    "train-labels-idx1-ubyte": (
        "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        "25c81989df183df01b3e8a0aad5dffbe", 29515,
        "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9", 60008),
    "t10k-images-idx3-ubyte": (
        "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        "bef4ecab320f06d8554ea6380940ec79", 4422102,
        "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b", 7840016),
    "t10k-labels-idx1-ubyte": (
        "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
        "bb300cfdad3c16e7a12a480ee83cd310", 5148,
        "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34", 10008),
}
IDX_KEYS = {"train-images": "train-images-idx3-ubyte", "train-labels": "train-labels-idx1-ubyte",
            "test-images": "t10k-images-idx3-ubyte", "test-labels": "t10k-labels-idx1-ubyte"}


def _idx_files(checksums: Mapping[str, tuple], mirrors: tuple[str, ...]) -> tuple[DataFile, ...]:
    out = []
    for key, stem in IDX_KEYS.items():
        sha_gz, md5_gz, size_gz, sha_raw, size_raw = checksums[stem]
        out.append(DataFile(
            key=key,
            canonical=FileForm(stem + ".gz", sha256=sha_gz, md5=md5_gz, size=size_gz),
            urls=tuple(m + stem + ".gz" for m in mirrors),
            alternatives=(FileForm(stem, sha256=sha_raw, size=size_raw),),
        ))
    return tuple(out)


IDX_SPLITS = {"train": ("train-images", "train-labels"), "test": ("test-images", "test-labels")}

register(DatasetInfo(
    name="mnist",
    description="MNIST handwritten digits: 60,000 train / 10,000 test grey-scale 28x28 images, "
                "10 classes (IDX format).",
    task="classification", folders=("mnist",), files=_idx_files(MNIST_CHECKSUMS, MNIST_MIRRORS),
    splits=IDX_SPLITS, reader=_read_idx_pair, image_shape=(28, 28), n_classes=10,
    license="CC BY-SA 3.0",
    citation="Y. LeCun, L. Bottou, Y. Bengio, P. Haffner, Gradient-based learning applied to "
             "document recognition, Proc. IEEE 86(11):2278-2324, 1998.",
    homepage="http://yann.lecun.com/exdb/mnist/",
))

register(DatasetInfo(
    name="fashion-mnist",
    description="Fashion-MNIST (Zalando article images): 60,000 train / 10,000 test grey-scale "
                "28x28 images, 10 classes, MNIST's IDX format.",
    task="classification", folders=("fashion-mnist", "fashion"),
    files=_idx_files(FASHION_CHECKSUMS, FASHION_MIRRORS),
    splits=IDX_SPLITS, reader=_read_idx_pair, image_shape=(28, 28), n_classes=10,
    license="MIT",
    citation="H. Xiao, K. Rasul, R. Vollgraf, Fashion-MNIST: a novel image dataset for "
             "benchmarking machine learning algorithms, arXiv:1708.07747, 2017.",
    homepage="https://github.com/zalandoresearch/fashion-mnist",
))

# Batch md5s as published with the dataset's loaders (torchvision); the archive's sha256 is the
# one independent public loaders pin for cifar-10-python.tar.gz (170,498,071 bytes).
CIFAR_BATCH_MD5 = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
}

register(DatasetInfo(
    name="cifar10",
    description="CIFAR-10: 50,000 train (data_batch_1..5) / 10,000 test 32x32 colour images, "
                "10 classes (python pickle batches). Images are returned height x width x RGB; "
                "each batch is also a split of its own (the dual-weight code uses data_batch_1).",
    task="classification", folders=("cifar10", "cifar-10"),
    files=(DataFile(
        key="archive",
        canonical=FileForm(
            "cifar-10-python.tar.gz",
            sha256="6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
            md5="c58f30108f718f92721af3b95e74349a", size=170498071),
        urls=("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",),
        alternatives=(FileForm(parsers.CIFAR_FOLDER, members=tuple(
            FileForm(b, md5=m) for b, m in CIFAR_BATCH_MD5.items())),),
    ),),
    splits={s: ("archive",) for s in CIFAR_SPLITS}, reader=_read_cifar,
    image_shape=(32, 32, 3), n_classes=10,
    license="no explicit license; free for research, cite the technical report",
    citation="A. Krizhevsky, Learning multiple layers of features from tiny images, technical "
             "report, University of Toronto, 2009.",
    homepage="https://www.cs.toronto.edu/~kriz/cifar.html",
))

PACE_BARRY = ("R. K. Pace, R. Barry, Sparse spatial autoregressions, Statistics & Probability "
              "Letters 33(3):291-297, 1997.")

register(DatasetInfo(
    name="california-housing",
    description="California housing (1990 census block groups), 20,640 rows: scikit-learn's 8 "
                "features (MedInc, HouseAge, AveRooms, AveBedrms, Population, AveOccup, Latitude, "
                "Longitude) and target MedHouseVal = median house value / 100,000, computed from "
                "StatLib's cal_housing.data exactly as fetch_california_housing does.",
    task="regression", folders=("california-housing", "CaliforniaHousing"),
    files=(DataFile(
        key="data",
        canonical=FileForm(
            "cal_housing.tgz",
            sha256="aaa5c9a6afe2225cc2aed2723682ae403280c4a3695a2ddda4ffb5d8215ea681"),
        urls=("https://www.dcc.fc.up.pt/~ltorgo/Regression/cal_housing.tgz",),
        alternatives=(FileForm(
            "cal_housing.data",
            sha256="a2b44dcc7e1c9091b43c4f458b25cbd1f7e8068d08edd26bc4703108d3fa6214",
            size=2071484),),
    ),),
    splits={"train": ("data",)}, reader=_read_california,
    feature_names=("MedInc", "HouseAge", "AveRooms", "AveBedrms", "Population", "AveOccup",
                   "Latitude", "Longitude"),
    target_name="MedHouseVal",
    license="public domain (StatLib)", citation=PACE_BARRY,
    homepage="https://www.dcc.fc.up.pt/~ltorgo/Regression/cal_housing.html",
))

register(DatasetInfo(
    name="california-housing-csv",
    description="California housing as the widely used housing.csv (A. Geron, Hands-On Machine "
                "Learning), the variant the dual-weight code reads: ocean_proximity dropped, rows "
                "with a missing value dropped -> 20,433 rows; 8 raw inputs, target "
                "median_house_value in dollars. No standardisation here.",
    task="regression", folders=("california-housing", "housing"),
    files=(DataFile(
        key="data",
        canonical=FileForm(
            "housing.csv",
            sha256="8a3727f4cf54ac1a327f69b1d5b4db54c5834ea81c6e4efc0d163300022a685e",
            size=1423529),
        urls=("https://raw.githubusercontent.com/ageron/handson-ml/master/datasets/housing/"
              "housing.csv",),
    ),),
    splits={"train": ("data",)}, reader=_read_housing_csv,
    feature_names=parsers.HOUSING_CSV_INPUTS, target_name=parsers.HOUSING_CSV_TARGET,
    license="public domain (StatLib)",
    citation=PACE_BARRY + " CSV variant: A. Geron, Hands-On Machine Learning with Scikit-Learn "
                          "and TensorFlow, O'Reilly, 2017 (github.com/ageron/handson-ml).",
    homepage="https://github.com/ageron/handson-ml/tree/master/datasets/housing",
))

WINE_URL = "https://archive.ics.uci.edu/ml/machine-learning-databases/wine-quality/"
CORTEZ = ("P. Cortez, A. Cerdeira, F. Almeida, T. Matos, J. Reis, Modeling wine preferences by "
          "data mining from physicochemical properties, Decision Support Systems 47(4):547-553, "
          "2009. UCI Machine Learning Repository, doi:10.24432/C56S3T.")

for _colour, _sha, _size, _rows in (
        ("white", "76c3f809815c17c07212622f776311faeb31e87610d52c26d87d6e361b169836", 264426, 4898),
        ("red", "4a402cf041b025d4566d954c3b9ba8635a3a8a01e039005d97d6a710278cf05e", 84199, 1599)):
    register(DatasetInfo(
        name=f"wine-quality-{_colour}",
        description=f"Wine Quality, {_colour} vinho verde: {_rows:,} wines, 11 physico-chemical "
                    "inputs, target quality (median of sensory scores, integer 0-10).",
        task="regression", folders=("wine-quality", "wine"),
        files=(DataFile(
            key="data",
            canonical=FileForm(f"winequality-{_colour}.csv", sha256=_sha, size=_size),
            urls=(f"{WINE_URL}winequality-{_colour}.csv",),
        ),),
        splits={"train": ("data",)}, reader=_read_wine,
        feature_names=parsers.WINE_FEATURES, target_name=parsers.WINE_TARGET,
        license="CC BY 4.0", citation=CORTEZ,
        homepage="https://archive.ics.uci.edu/dataset/186/wine+quality",
    ))

register(DatasetInfo(
    name="digits",
    description="scikit-learn's optical-recognition digits: 1,797 images of 8x8 pixels with "
                "values 0..16, 10 classes. Ships inside scikit-learn: no download, no pinned "
                "checksum (its file is reported by checksums()).",
    task="classification", folders=(), files=(), splits={"train": ()}, reader=_read_digits,
    image_shape=(8, 8), pixel_max=16, n_classes=10,
    license="CC BY 4.0 (UCI)",
    citation="E. Alpaydin, C. Kaynak, Optical Recognition of Handwritten Digits, UCI Machine "
             "Learning Repository, 1998, doi:10.24432/C50P49.",
    homepage="https://scikit-learn.org/stable/datasets/toy_dataset.html#digits-dataset",
    embedded=_digits_files,
))
