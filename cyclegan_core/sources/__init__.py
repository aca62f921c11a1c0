"""Where models come from: a folder, the official zoo, an installed package, the Hugging Face Hub.

    resolve.py         load(source): a folder, a zoo name (local, Hub, upstream) or a Hub repo
    zoo.py             the official models offered by name (18 generators), with their model cards
    packaged.py        models shipped inside installed packages (vintagify's modern → vintage), offline
    availability.py    whether a zoo model can be used now: here already, downloadable, or not offline
    hub.py             model folders from the Hugging Face Hub
    download.py        HTTP: a short reachability probe and a verified download

Imports: `model` and below, `paths`.
"""
