"""Quiz of lesson 00 · Welcome: the course's map, f and c, the device, widgets and checkers."""

from ..i18n import N_
from ..quiz import Question, Quiz

QUIZ = Quiz(0, (
    Question(
        "q1", N_("Stable Diffusion turns a photo into a new picture (img2img). In which order does the data go through "
              "its parts?"),
        answer="a",
        choices=(N_("encode to a small latent (VAE) → remove noise step by step, guided by the prompt (UNet) → "
                    "decode back to pixels (VAE)"),
                 N_("remove noise from the pixels (UNet) → encode (VAE) → decode (VAE)"),
                 N_("encode (VAE) → decode (VAE) → remove noise from the decoded picture (UNet)"),
                 N_("the VAE and the UNet take turns: every denoising step is decoded to pixels and encoded again")),
        why={"b": N_("the UNet never sees a pixel: it removes noise in the small latent, which is what makes it "
                     "cheap. The VAE's encoder comes first."),
             "c": N_("the decoder runs only once, at the very end: all the denoising happens before it, on the "
                     "latent."),
             "d": N_("all the steps stay in the latent; only at the very end is the latent decoded. Going through "
                     "the pixels at every step would throw away what the small latent saves.")},
        source="lesson 00, 'What this course is' and the summary"),
    Question(
        "q2", N_("What do f and c mean for a VAE such as Stable Diffusion's (f = 8, c = 4)?"),
        answer="a",
        choices=(N_("f: how many pixels of side one latent position stands for (the downsampling factor); "
                    "c: how many numbers the latent keeps at each position (the latent channels)"),
                 N_("f: how many times fewer values the latent holds than the image; c: the latent channels"),
                 N_("f: the downsampling factor; c: the latent's colours, R, G, B and alpha")),
        why={"b": N_("f works on each side: a 512-pixel side becomes 512/f, so the grid has f² times fewer "
                     "positions. The number of values falls by 3f²/c (48 for SD), not by f."),
             "c": N_("the c channels are numbers the VAE learned to keep, not colours: SD's 4 are not RGBA. "
                     "Lesson 02 looks inside them.")},
        source="lesson 00, 'How the widgets work'"),
    Question(
        "q3", N_("A 512×512 RGB photo goes through a VAE with f = 4 and c = 3. How many times fewer values "
                 "does its latent hold? (a number)"),
        answer=16.0,
        why={"": N_("value ratio = 3f²/c = 3·4²/3 = 16: the photo has 512·512·3 values, the latent "
                    "3·128·128. (SD's f = 8, c = 4 gives 3·64/4 = 48.)")},
        source="lesson 00, 'How the widgets work' (the f and c sliders)"),
    Question(
        "q4", N_("Compared with SD's f = 8, c = 4, a VAE with f = 16 and c = 16 gives a 512×512 photo a latent "
                 "with…"),
        answer="b",
        choices=(N_("about 4× fewer values: a larger f makes the latent smaller"),
                 N_("the same number of values (48× fewer than the photo), on a coarser grid with more channels"),
                 N_("4× more values, because it has 4× more channels")),
        why={"a": N_("doubling f shrinks the grid 4× (32×32 instead of 64×64), but c grows from 4 to 16, 4× more "
                     "numbers per position: 3·16²/16 = 48, the same as 3·8²/4."),
             "c": N_("the 4× more channels sit on a grid with 4× fewer positions (32×32 instead of 64×64): the two "
                     "cancel, and 3·16²/16 = 48, as for f8c4.")},
        source="lesson 00, 'How the widgets work' (f16c16 has the same number of values as f8c4)"),
    Question(
        "q5", N_("Your machine has an NVIDIA GPU, but you want to time a lesson on the CPU. What do you do?"),
        answer="a",
        choices=(N_("set LATENTLAB_DEVICE=cpu before starting JupyterLab (or in os.environ before anything picks "
                    "a device)"),
                 N_("nothing: the models are tiny, so pick_device() always chooses the CPU"),
                 N_("set LATENTLAB_DEVICE=gpu to switch the GPU off"),
                 N_("set LATENTLAB_DEVICE=cpu in the last cell, after the models have loaded")),
        why={"b": N_("pick_device() prefers an NVIDIA GPU (CUDA), then an Apple GPU (MPS), and only then the CPU: "
                     "on this machine it would pick the GPU."),
             "c": N_("gpu is not a device name torch knows: pick_device() refuses it with a message that says so. "
                     "The names are cpu, cuda, cuda:1, mps."),
             "d": N_("the variable is read when pick_device() runs: set it before anything picks a device, or the "
                     "tensors are already on the GPU.")},
        source="lesson 00, 'Your device'"),
    Question(
        "q6", N_("What does a checker such as check_kl_by_hand(kl_by_hand) do with the function you wrote?"),
        answer="b",
        choices=(N_("it reads your code and compares its text with the solution notebook"),
                 N_("it tries it on random inputs and prints ✅, or ❌ with a hint naming the likely mistake"),
                 N_("it only checks that your cell runs without an error"),
                 N_("it sends your answer to a teacher, who grades it later")),
        why={"a": N_("it never reads your code: it calls your function on random inputs and looks at what comes "
                     "back, so any correct way of writing it passes."),
             "c": N_("a function that runs but returns a wrong answer gets ❌: the checker compares results, and "
                     "tries to say which mistake gave them."),
             "d": N_("everything runs offline, on your machine: the checker answers at once, in the notebook. The "
                     "worked solutions are in notebooks/solutions/ when you want to compare.")},
        source="lesson 00, 'Exercises, solutions and tests'"),
    Question(
        "q7", N_("A widget shows only text like VBox(children=...) instead of sliders. What is wrong?"),
        answer="c",
        choices=(N_("the app crashed, and its traceback is hidden"),
                 N_("widgets need a GPU to be drawn"),
                 N_("the notebook is not running in JupyterLab with ipywidgets enabled: open the course with "
                     "./course lab (or latentlab lab)")),
        why={"a": N_("when something goes wrong inside an app, its status line says what; VBox(...) as text means "
                     "the widget was never drawn at all."),
             "b": N_("every lesson, widgets included, runs on a laptop CPU; the widgets are drawn by JupyterLab, "
                     "in your browser.")},
        source="lesson 00, 'How the widgets work'"),
))
