"""Quiz of lesson 01 · Pixels and latents."""

from ..i18n import N_
from ..quiz import Question, Quiz

QUIZ = Quiz(1, (
    Question(
        "q1", N_("A 512×512 RGB photo (one byte per value) becomes an f8c4 latent stored in fp16. How many times "
                 "fewer *bytes* does the latent take? (a number)"),
        answer=24.0,
        why={"": N_("the latent has 48× fewer values (3f²/c = 3·64/4), but each fp16 value takes 2 bytes against a "
                    "pixel value's 1: 786 432 bytes ÷ (16 384 values × 2 bytes) = 24. In fp32 it would be 12.")},
        source="lesson 01, 'The math: counting values'"),
    Question(
        "q2", N_("How many bits per image pixel does that fp16 f8c4 latent spend? (a number)"),
        answer=1.0,
        why={"": N_("16 384 values × 2 bytes × 8 bits = 262 144 bits, for 512 × 512 = 262 144 pixels: 1 bit per "
                    "pixel. Divide by the pixels, not by the 3 values of each pixel (that would give 1/3). JPEG "
                    "photos typically spend 0.5–2 bpp.")},
        source="lesson 01, exercise 2 (bits per pixel)"),
    Question(
        "q3", N_("Lesson 01 puts the idea 'the latent is a ZIP file of the image' to the test. Where does it "
                 "break?"),
        answer="c",
        choices=(N_("the latent is not really smaller: PNG and ZIP already do as well"),
                 N_("the latent cannot be turned back into a picture"),
                 N_("decoding gives back an approximation, not the exact pixels: the latent's PSNR is finite, "
                    "a ZIP's is infinite")),
        why={"a": N_("that part holds: the fp16 latent is 24× smaller than the raw pixels and several times smaller "
                     "than PNG or ZIP. Lossless codecs can only remove redundancy, and a photo's noise and texture "
                     "are not redundant."),
             "b": N_("that part holds too: the decoder turns those few numbers back into a full photo.")},
        source="lesson 01, 'Where the analogy holds' and 'Where it breaks'"),
    Question(
        "q4", N_("Given exactly the bytes of the fp16 latent, JPEG reconstructs the photo with a higher PSNR. Why "
                 "does Stable Diffusion use a latent anyway?"),
        answer="c",
        choices=(N_("because the latent is lossless, and JPEG is not"),
                 N_("to save disk space when it stores the pictures it generates"),
                 N_("because the latent is a small, image-like map that the UNet, run 20–50 times per image, can "
                    "denoise on 48× fewer values")),
        why={"a": N_("the latent is lossy too (its PSNR is finite), and at equal bytes it loses to JPEG by several "
                     "dB. Its advantage is not the quality of the copy."),
             "b": N_("nobody stores SD latents to save disk space: as a file format the latent would be a poor one. "
                     "It is a workspace, not a file.")},
        source="lesson 01, 'Where it breaks' (the point is a workspace, not a file)"),
    Question(
        "q5", N_("f16c16 keeps the same 48× fewer values as f8c4. Why did the LDM paper settle on f = 4…8?"),
        answer="b",
        choices=(N_("because f16c16 actually keeps fewer values than f8c4"),
                 N_("because reconstruction quality falls as f grows (f4 > f8 > f16 at similar c), and diffusion "
                    "on a very coarse grid with many channels is harder"),
                 N_("because a larger f makes the UNet slower")),
        why={"a": N_("3·16²/16 = 48 = 3·8²/4: the same number of values, packed into a 32×32 grid with 16 channels "
                     "instead of a 64×64 grid with 4."),
             "c": N_("the opposite: a larger f shrinks the UNet's workspace and makes diffusion cheaper. What it "
                     "costs is detail (LDM Tab. 8).")},
        source="lesson 01, 'The f/c sweep: LDM Tab. 8 on a laptop'"),
    Question(
        "q6", N_("Stable Diffusion's own f8 VAE scores only about 23–27 dB PSNR on photo collections. What should "
                 "you conclude?"),
        answer="b",
        choices=(N_("that its reconstructions must look clearly worse than a JPEG's"),
                 N_("that PSNR is not what it was trained for: its loss adds a perceptual (LPIPS) and an adversarial "
                    "(GAN) term, which trade some PSNR for sharp, plausible texture"),
                 N_("that it was trained with MSE only, like the course's tiny VAEs")),
        why={"a": N_("PSNR counts every pixel's error the same and does not ask whether the picture looks right: it "
                     "cannot tell JPEG's 8×8 blocks and ringing, or a blur, from the same amount of harmless "
                     "grain."),
             "c": N_("MSE only (plus a small KL) is the recipe of the course's tiny VAEs, which is why they blur where "
                     "SD's invents texture. SD's VAE uses an L1 term, LPIPS and a patch GAN (LDM §3 and App. G).")},
        source="lesson 01, 'What PSNR does not see'"),
    Question(
        "q7", N_("In the compression explorer (vae-f8c4, 256 px), on which pictures is the VAE furthest behind JPEG "
                 "at equal bytes, and why?"),
        answer="b",
        choices=(N_("busy, grainy pictures (hubble_deep_field, immunohistochemistry): the VAE cannot encode noise"),
                 N_("smooth pictures such as colorwheel: the latent is a fixed-size code, while JPEG spends bytes "
                    "only where there is detail, so on a smooth picture the same bytes buy it a high quality"),
                 N_("smooth pictures such as colorwheel: the VAE reconstructs smooth gradients worst")),
        why={"a": N_("there the VAE comes closest (JPEG ahead by less than 4 dB): to fit fine texture and noise into "
                     "the latent's 8 192 bytes, JPEG must drop to a low quality (about 30–45)."),
             "c": N_("the VAE's own PSNR is in fact highest on the smooth pictures. It falls furthest behind there "
                     "because JPEG gains even more: around quality 90 for the colour wheel.")},
        source="lesson 01, exercise 3 (answer)"),
))
