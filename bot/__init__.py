"""paperbot: new research papers, brought to the Discord server where people already talk."""

__version__ = "0.1.0"
