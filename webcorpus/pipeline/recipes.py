"""The recipes that ship inside webcorpus (the repository's pipelines/), and the sample they read.

A wheel carries them as `webcorpus/recipes/` (pyproject.toml maps the repository's pipelines/ there, as it
maps blocklists/), so an installed webcorpus runs the main job from any folder: `webcorpus run fineweb`.
A checkout run from its source tree has no such folder and uses pipelines/ itself.

An input written `webcorpus:sample/*.warc.gz` names a file inside that folder, wherever webcorpus is
installed; every other input path is relative to the folder the run starts from, as always.
"""

from __future__ import annotations

from pathlib import Path

BUNDLED_PREFIX = "webcorpus:"  # an input inside the recipes' folder: `webcorpus:sample/*.warc.gz`
RECIPE_SUFFIX = ".yaml"


class RecipeError(ValueError):
    """One line: which recipe or path, and what is wrong."""


def recipes_folder() -> Path:
    """Where the bundled recipes are: inside the installed package, else pipelines/ of a checkout."""
    package = Path(__file__).resolve().parent.parent
    for candidate in (package / "recipes", package.parent / "pipelines"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"{package}: the bundled recipes are missing from this installation")


def recipe_names() -> list[str]:
    """The recipes `webcorpus run NAME` and `webcorpus init NAME` know, sorted."""
    return sorted(path.stem for path in recipes_folder().glob(f"*{RECIPE_SUFFIX}"))


def recipe_path(name: str) -> Path | None:
    """The bundled recipe called `name` (with or without .yaml), or None."""
    stem = name.removesuffix(RECIPE_SUFFIX)
    if "/" in stem or "\\" in stem or stem not in recipe_names():
        return None
    return recipes_folder() / f"{stem}{RECIPE_SUFFIX}"


def find_pipeline(name: str) -> Path:
    """The pipeline file `webcorpus run NAME` means: a file that exists wins, then a bundled recipe (a folder
    named `fineweb` in the current folder does not hide it); else one line listing the recipes (a typo in
    a path and a typo in a name look the same to the user)."""
    path = Path(name)
    if path.is_file():
        return path
    recipe = recipe_path(name)
    if recipe is not None:
        return recipe
    if path.exists():  # a folder, a FIFO: loading it says what is wrong
        return path
    raise RecipeError(f"{name}: no such file, and not a recipe (recipes: {', '.join(recipe_names())})")


def recipe_or_path(name: str) -> Path:
    """`find_pipeline` for a file that may exist only elsewhere (`webcorpus slurm` writes scripts for the
    cluster's nodes): a recipe's name when no such file is here, else the path as given."""
    recipe = None if Path(name).is_file() else recipe_path(name)
    return recipe if recipe is not None else Path(name)


def write_recipe(name: str, target: str | Path | None = None) -> Path:
    """Copy recipe `name` to `target` (default ./NAME.yaml, or NAME.yaml inside a folder) for editing;
    never over an existing file, which may hold someone's edits."""
    recipe = recipe_path(name)
    if recipe is None:
        raise RecipeError(f"{name}: not a recipe (recipes: {', '.join(recipe_names())})")
    path = Path(target) if target is not None else Path(recipe.name)
    if path.is_dir():
        path = path / recipe.name
    if path.exists():
        raise RecipeError(f"{path}: already exists; remove it or name another file")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "x", encoding="utf-8") as file:  # "x": a file made since the check is not overwritten
        file.write(recipe.read_text(encoding="utf-8"))
    return path


def resolve_input(pattern: str) -> str:
    """An input pattern as the reader takes it: `webcorpus:PATH` becomes PATH inside the recipes' folder."""
    if pattern.startswith(BUNDLED_PREFIX):
        return str(recipes_folder() / pattern[len(BUNDLED_PREFIX) :])
    return pattern
