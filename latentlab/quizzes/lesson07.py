"""Quiz of lesson 07 · Why latent?"""

from ..i18n import N_
from ..quiz import Question, Quiz

QUIZ = Quiz(7, (
    Question(
        "q1", N_("The same UNet runs on a 3×512×512 picture and on its 4×64×64 f8c4 latent. How many times cheaper "
                 "is one of its convolution layers in the middle of the network on the latent? (a number)"),
        answer=64,
        tolerance=0.001,
        why={"": N_("A convolution does the same work at every position, and the layers in between have the same "
                    "channels in both spaces: the ratio is the positions', 512²/64² = 64. 48 = 786 432/16 384 is the "
                    "ratio of values, but the input's channels only matter to the first and the last convolution.")},
        source="lesson 07, '1. Predict from the shapes'"),
    Question(
        "q2", N_("Now a 256×256 picture against its 4×32×32 f8c4 latent. How many times fewer FLOPs does one "
                 "self-attention layer of the same UNet need on the latent? (a number)"),
        answer=4096,
        tolerance=0.001,
        why={"": N_("Self-attention compares every position with every other, so its cost follows (h·w)²: "
                    "(256²/32²)² = 64² = 4096. The picture's size does not change it: for one layer, f = 8 always "
                    "means f² = 64× fewer positions and f⁴ = 4096× fewer pairs.")},
        source="lesson 07, '1. Predict from the shapes'"),
    Question(
        "q3", N_("In the same-recipe pixel model, with attention at full resolution, you double the picture's side S. "
                 "How do that attention's FLOPs and the convolutions' FLOPs grow?"),
        answer="b",
        choices=(N_("both 4×"), N_("attention 16×, convolutions 4×"), N_("attention 4×, convolutions 2×"),
                 N_("both 16×")),
        why={"a": N_("the convolutions follow the positions, S², so 4×; but attention compares every pair of positions, "
                     "S⁴, so 16×. That is why attention takes a larger share of the step the larger the picture."),
             "c": N_("doubling the side quadruples the positions h·w: the convolutions grow 4× and attention, which "
                     "follows their square, 16×."),
             "d": N_("only attention follows the square of the positions; a convolution does the same work at every "
                     "position, so it grows with them, 4×.")},
        source="lesson 07, 'Explore' (a) and its answer"),
    Question(
        "q4", N_("Against the fair pixel model (attention only where the feature map is 32×32 or smaller, as in DDPM "
                 "and ADM), the latent's saving per step is close to which ratio?"),
        answer="a",
        choices=(N_("the positions ratio, f² (64× for f = 8)"),
                 N_("the attention-pairs ratio, f⁴ (4096× for f = 8)"),
                 N_("the values ratio, 3f²/c (48× for f8c4)")),
        why={"b": N_("the fair model has no attention at high resolution, so no (h·w)² term to inflate its cost: what "
                     "remains is the convolutions' h·w."),
             "c": N_("the channels barely matter: only the first and the last convolution see them. The cost follows "
                     "the positions.")},
        source="lesson 07, '2. Measure' ('Reading it')"),
    Question(
        "q5", N_("The lesson expects the measured speed-up to fall furthest below the counted FLOP ratio for the "
                 "tiniest latent, f16c16. Why?"),
        answer="c",
        choices=(N_("because its 16 channels make every layer dearer"),
                 N_("because its step time includes the VAE decode"),
                 N_("because a tiny tensor cannot keep all the cores busy, and every layer has fixed costs that do not "
                     "shrink with the input"),
                 N_("because the FLOP counter misses its attention")),
        why={"a": N_("only the first and the last convolution see the latent's channels; every layer in between has "
                     "the same width in all four spaces."),
             "b": N_("the ms column is one UNet step; the decode only counts in the per-picture figure, 20 steps plus "
                     "one decode."),
             "d": N_("the counter is taught PyTorch's CPU attention kernel (`why_latent.flop_counter`), and FLOPs are "
                     "counted from the shapes, the same on every machine: the gap is in the time, not the count.")},
        source="lesson 07, '2. Measure' ('Reading it')"),
    Question(
        "q6", N_("SD v1 at 512 px in its 4×64×64 latent: batch 2 (CFG), 8 heads, fp16 (2 bytes). How many GB (10⁹ "
                 "bytes) does one self-attention layer's stored map of weights take? (a number)"),
        answer=0.537,
        tolerance=0.02,
        why={"": N_("64×64 = 4096 positions, and the map holds one weight per pair for every head and picture: "
                    "2 · 8 · 4096² · 2 bytes = 536 870 912 bytes ≈ 0.54 GB, about half a GB. On the 512×512 pixels "
                    "(262 144 positions) the same map is about 2.2 TB.")},
        source="lesson 07, '3. Memory' and exercise 3"),
    Question(
        "q7", N_("Moving SD v1's UNet from pixel space to the f = 8 latent space, which part of a step's GPU memory "
                 "does not shrink?"),
        answer="d",
        choices=(N_("the convolutions' activations"),
                 N_("the stored attention maps"),
                 N_("the skip connections' feature maps"),
                 N_("the weights: 860 M parameters, 1.7 GB in fp16, in either space")),
        why={"a": N_("a convolution's output has C × h × w values: it shrinks f² = 64 times."),
             "b": N_("a stored map holds heads × (h·w)² numbers: it shrinks f⁴ = 4096 times."),
             "c": N_("the skip connections keep feature maps of C × h × w values, which shrink with the positions "
                     "like every activation.")},
        source="lesson 07, '3. Memory: what fits on your GPU?'"),
    Question(
        "q8", N_("The LDM paper compared the same model at equal *training steps* for f = 1 … 32 (§4.1). How did its "
                 "authors explain the slow progress of pixel space (LDM-1)?"),
        answer="c",
        choices=(N_("its steps are slow, so it got fewer of them"),
                 N_("its autoencoder threw away what the model needed"),
                 N_("the diffusion model had to do most of the perceptual compression itself, spending its capacity "
                     "on detail no one perceives"),
                 N_("pixel space cannot represent the pictures")),
        why={"a": N_("at equal training steps every space got as many steps; slow steps limit pixel space in our "
                     "equal-time study, which asks a different question from the paper's."),
             "b": N_("that is what limits *large* f; at f = 1 there is no autoencoder, and pixel space loses nothing."),
             "d": N_("pixel space loses nothing (its round trip reads every picture right); the question is how fast a "
                     "model learns in it.")},
        source="lesson 07, '5. Cheaper — and better? The mini LDM study' (LDM §4.1)"),
))
