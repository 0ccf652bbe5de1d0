"""One look for the benchmark plots: a small figure on the Agg backend, labelled, gridded, saved."""
from __future__ import annotations

from pathlib import Path


def figure(figsize: tuple[float, float] = (5, 3.2)):
    """``(fig, ax)`` on matplotlib's file-only backend (no display here or in CI)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=figsize)


def save(fig, ax, path: Path, xlabel: str, ylabel: str, title: str | None = None) -> None:
    """Label, grid and legend ``ax``, write ``fig`` as a PNG at ``path`` and free it."""
    import matplotlib.pyplot as plt

    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
