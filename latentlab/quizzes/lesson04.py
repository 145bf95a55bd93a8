"""Quiz of lesson 04 · The UNet."""

from ..i18n import N_
from ..quiz import Question, Quiz

QUIZ = Quiz(4, (
    Question(
        "q1", N_("What does the UNet of ldm-shapes (like SD v1's) return for a noisy latent z_t?"),
        answer="a",
        choices=(N_("ε̂, its estimate of the noise in every latent value: a tensor of z_t's shape, (B, 4, 16, 16) "
                    "here"),
                 N_("the clean picture in pixels, (B, 3, 128, 128)"),
                 N_("the clean latent z_0, directly"),
                 N_("how noisy z_t is, so that the sampler knows t")),
        why={"b": N_("the UNet never leaves the latent space: its output has the shape of its input. Pixels come "
                     "only at the very end, from the VAE's decoder."),
             "c": N_("it is trained to predict the noise, ‖ε − ε_θ(z_t, t, τ_θ(y))‖²; the clean picture x̂0 is "
                     "computed from ε̂ afterwards, x̂0 = (z_t − √(1−ᾱ_t)·ε̂)/√ᾱ_t."),
             "d": N_("t is an input, not an output: the sampler tells the UNet the timestep, which enters through "
                     "the time embedding.")},
        source="lesson 04, 'Why' and 'The math' (LDM §3.3)"),
    Question(
        "q2", N_("ldm-shapes' UNet has 3 levels and works on a 16×16 latent; between levels a Downsample halves the "
                 "side. What is the side of the feature map in the middle of the U? (a number)"),
        answer=4.0,
        why={"": N_("there is a Downsample *between* levels, not after the last one: 16 → 8 → 4, two halvings for "
                    "three levels. The middle is 2^(levels − 1) = 4 times smaller than the latent: 4×4.")},
        source="lesson 04, 'A forward pass, stage by stage' (the trace)"),
    Question(
        "q3", N_("Why does the time embedding spread t over frequencies from 1 down to 1/10000, instead of a single one?"),
        answer="a",
        choices=(N_("the fast frequencies tell neighbouring steps apart and the slow ones say roughly where in the "
                    "schedule we are; with ω = 1 alone, emb(t) repeats every 2π ≈ 6.3 steps"),
                 N_("the slow frequencies tell neighbouring steps apart, the fast ones the rough place in the "
                    "schedule"),
                 N_("so that the similarity of emb(t) and emb(t′) is a plain band around the diagonal"),
                 N_("it is not needed: the number t alone would do, the frequencies only speed up training")),
        why={"b": N_("the other way round: the fast frequencies decorrelate within a few steps (similarity 0.97 at a "
                     "gap of 1, 0.80 at 3), while the slow ones, with periods far longer than 1000 steps, never do."),
             "c": N_("the similarity is not a plain band: the middle frequencies drift in and out of phase and make "
                     "ripples beside the diagonal (it is higher at a gap of 100 than at 30)."),
             "d": N_("one scalar would have to select between 1000 rather different tasks: at t = 950 the best guess "
                     "is a blur, at t = 50 only a little noise is left to remove.")},
        source="lesson 04, '1. Time: the sinusoidal embedding' and exercise 4 (answer)"),
    Question(
        "q4", N_("How does the time embedding enter the UNet?"),
        answer="c",
        choices=(N_("as an extra input channel, concatenated to z_t"),
                 N_("through cross-attention, like the prompt"),
                 N_("every ResnetBlock adds its own projection of temb to its feature map: one number per channel, "
                    "the same at every position")),
        why={"a": N_("t is not a channel of the input: an MLP turns emb(t) into temb, and every ResnetBlock adds its "
                     "own projection of temb."),
             "b": N_("cross-attention is where the text comes in; the time is added inside every ResnetBlock, as "
                     "'this much noise, everywhere'.")},
        source="lesson 04, '2. The ResnetBlock, by hand'"),
    Question(
        "q5", N_("Take the skip connections out of the UNet in your head. What could it no longer predict well?"),
        answer="b",
        choices=(N_("which shape to draw, and its colours"),
                 N_("what is per position: ε is independent at every latent value, and ε̂ needs the exact input "
                    "value there; ε̂ would come out blurry, worst at small t"),
                 N_("nothing: skip connections only make training faster"),
                 N_("the timestep, because temb reaches the up path through the skips")),
        why={"a": N_("what is global and coarse still passes through the middle (4×4 here): the shape, its colours, "
                     "roughly where it is. That part the UNet could still predict."),
             "c": N_("the skips carry *where exactly* each edge was, which the shrunken middle has lost (Ronneberger "
                     "et al. 2015 added them for this localisation)."),
             "d": N_("every ResnetBlock, down, middle and up, receives temb directly; the skips carry feature maps "
                     "from the down path to the up path.")},
        source="lesson 04, '3. Down, up, and the skip connections' and exercise 4 (answer)"),
    Question(
        "q6", N_("In a cross-attention layer, what are the queries, and what are the keys and values?"),
        answer="a",
        choices=(N_("queries: every cell of the feature map; keys and values: the prompt's context vectors"),
                 N_("queries: the prompt's tokens; keys and values: the cells of the feature map"),
                 N_("queries, keys and values all come from the feature map; the text is added afterwards")),
        why={"b": N_("then the output would have one row per token, L rows, not one per cell. The layer must return "
                     "a feature map, so the H·W cells ask (queries) and the text answers: the weights are "
                     "(B, heads, H·W, L)."),
             "c": N_("that is self-attention, which comes first in the TransformerBlock2D. In cross-attention "
                     "K = W_K·τ_θ(y) and V = W_V·τ_θ(y) come from the text (LDM §3.3).")},
        source="lesson 04, '5. Cross-attention: where the text comes in'"),
    Question(
        "q7", N_("Each row of cross-attention weights sums to 1 over the L positions, padding included. What does a "
                 "background cell do when no word of the prompt is about it?"),
        answer="b",
        choices=(N_("it gives every position a weight close to 0"),
                 N_("it puts its weight on positions with no content (padding, <start>, <end>), whose values act as "
                    "a learned 'no change'"),
                 N_("it spreads its weight evenly over the words of the prompt")),
        why={"a": N_("a softmax row sums to 1: a cell cannot attend to nothing, it must spend its whole weight "
                     "somewhere."),
             "c": N_("that would mix every word's content into a cell no word is about. The model learns a sink "
                     "instead: on ldm-shapes padding, <start> and <end> take about 45 % of all cross-attention "
                     "(padding alone about 30 %); in SD the sink is <start>.")},
        source="lesson 04, exercise 4 (answer)"),
    Question(
        "q8", N_("While sampling (DDIM, 20 steps), when does the cross-attention map of the shape word (circle) "
                 "settle?"),
        answer="a",
        choices=(N_("early: by step 3–4 of 20 it is close to its final form, while x̂0 keeps changing until the "
                    "last steps"),
                 N_("only in the last steps, once x̂0 is sharp"),
                 N_("never: the maps are noise, unrelated to where the shape is")),
        why={"b": N_("the layout is decided first: at step 3–4 the map already correlates above 0.9 with the last "
                     "step's, while x̂0 is still 15–40 levels (of 255) from the final picture (Hertz et al. 2022, "
                     "Prompt-to-Prompt)."),
             "c": N_("in the 8×8 layer of the up path (up_blocks.1.0) the map sits on the shape and moves with it "
                     "when top left becomes bottom right. Some layers are inverted or diffuse: a layer's map is "
                     "whatever is useful to that layer, not necessarily a segmentation.")},
        source="lesson 04, '7. Which word attends where' (answer)"),
))
