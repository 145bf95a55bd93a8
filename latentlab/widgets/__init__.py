"""Interactive apps for the lessons, one per concept (ipywidgets 8, JupyterLab 4).

Every app is built on `kit.py` and follows one protocol, so lessons, tests and benchmarks drive
them all the same way:

    app = SomeApp(...)        # models as names ("vae-f8c4", "ldm-shapes") or loaded models, all
                              # resolved by kit.resolve_model; nothing heavy before the first render
    app                       # displayed in a notebook cell (via _ipython_display_)
    app.controls["name"]      # the ipywidgets a student touches; tests set `.value` on them
    app.render() -> dict      # the update: recompute the outputs from the controls, return the numbers
    app.last_error            # None, or the traceback of the last failed update (the student sees
                              # its message in the status line, never a traceback)
    SomeApp.for_bench(size)   # the app as `latentlab bench widgets` builds it
    app.bench_step(i)         # one typical student change, the thing that benchmark times

A new widget: one module here holding its App subclass (helpers from `kit`, analysis code in
`latentlab.viz` / `latentlab.pipeline`, not in the widget), one line in `APPS` below, and its key in
the `apps` list of the lesson that shows it (`latentlab/lessons/manifest.toml`); a test checks
that the two agree.
"""

from __future__ import annotations

import importlib

# key → "module:Class", imported on first use so `import latentlab.widgets` stays cheap.
APPS = {
    "compression": "latentlab.widgets.compression:CompressionApp",
    "channels": "latentlab.widgets.channels:ChannelsApp",
    "schedule": "latentlab.widgets.schedule:ScheduleApp",
    "cross_attention": "latentlab.widgets.cross_attention:CrossAttentionApp",
    "trajectory2d": "latentlab.widgets.trajectory2d:Trajectory2DApp",
    "trajectory": "latentlab.widgets.trajectory:TrajectoryApp",
    "img2img": "latentlab.widgets.img2img:Img2ImgApp",
    "interpolate": "latentlab.widgets.interpolate:InterpolateApp",
    "why_latent": "latentlab.widgets.why_latent:WhyLatentApp",
}


def app_class(key: str) -> type:
    """The App subclass registered under `key` (its module imported now)."""
    if key not in APPS:
        from ..i18n import tr

        raise ValueError(tr("unknown widget app {key!r}; known: {known}").format(key=key, known=", ".join(APPS)))
    module, name = APPS[key].split(":")
    return getattr(importlib.import_module(module), name)


def __getattr__(name: str):
    # `from latentlab.widgets import App, guarded, read_upload` still works; they live in kit.
    if name in ("App", "guarded", "read_upload"):
        from . import kit

        return getattr(kit, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["APPS", "app_class"]
