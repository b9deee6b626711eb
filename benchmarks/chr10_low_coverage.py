"""The original model against bcftools on one contig (the tune contig chr10 by default), at full coverage and at
the profile's downsampled fraction (50 %), with 95 % intervals and an error breakdown.

    python benchmarks/chr10_low_coverage.py [--variant realign_only] [--model train|book] [--against VARIANT ...]
                                            [--profile demo|path.yaml] [--contig chr10]

``--model book`` calls with chapter 3's original model instead of training one (a change of the calling
examples alone, in a minute or two); ``--against book:baseline`` adds the paired difference to that run.

Issue 16's yardstick for changes to the native engine (realignment, pileup drawing, allele pairs, read
fractions), measured where the book may look: chr10, never the test contig chr1. Each ``--variant`` (see
:data:`VARIANTS`) trains the original model as chapter 3 does (``train_original_model``), with the recipe the
variants before ``fraction_copies`` were measured with (:data:`ONE_COPY_FRACTIONS`, :data:`ONE_COPY_OVERRIDES`) or
the variant's own (:data:`VARIANT_READ_FRACTIONS` / :data:`VARIANT_OVERRIDES`; ``fraction_copies`` is chapter 3's
recipe), on examples made with the variant's settings,
into ``models/original_<variant>``; the contig is extracted from the DNA BAM and downsampled with the
profile's fraction and seed, as chapter 1 does for chr1; both coverages are called with the model and
with bcftools, benchmarked against the truth in the contig's confident regions, and printed with 95 %
block-bootstrap intervals (:mod:`lowcov.bootstrap`, as chapter 7 uses it; paired against bcftools' ALL and
PASS rows, and against ``--against``).

``--contig`` names another contig to judge on: the test contig chr1 once a choice is made on chr10 (issue
16's done-when), on the demo or on another genome (``--profile``, e.g. ``benchmarks/profiles/
demo_seed7.yaml``, built first with ``python -m lowcov.acquire --profile ...``). Caveat printed with the
figures: chr10 is the model's tune contig (its checkpoint is selected on chr10's examples), so its figures
are slightly optimistic for the model; they rank variants, chr1 judges them.

The breakdown lists the model's false negatives and false positives by type (SNP, insertion, deletion),
genotype, length, whether make_examples produced a candidate for the allele, the reads that carry an
indel of the same kind nearby, and the reads soft-clipped within 10 bp. Everything lives under
``data/<profile>/<contig>/``; a re-run reuses what is done.

Variants that change training alone (:data:`VARIANT_EXAMPLES_OF`) train on another variant's examples, and
every variant calls with the calling examples of the first variant made with the same calling settings
(:func:`calling_variant`), so neither is made twice.

Measured so far (demo chr10, one training seed each, INDEL F1 at full coverage / at 50 %, paired change of the
50 % F1 against realign_only with its 95 % interval; bcftools 0.8938 / 0.8718 ALL, 0.9067 / 0.9008 PASS):
realign_only (the book's) 0.9396 / 0.9026 (50 %: 35 FN, 14 FP); all 0.9373 / 0.8942, -0.0084 [-0.0215,
+0.0045]; realign_dv_indels 0.9380 / 0.9073, +0.0047 [-0.0052, +0.0156]; realign_low_fractions 0.9412 /
0.9062, +0.0036 [-0.0124, +0.0195]; more_epochs 0.9432 / 0.9030, +0.0004 [-0.0097, +0.0099] (its tune
metric peaked at epoch 3, so DeepVariant's selection kept step 1701 of 2835: the two extra epochs, ~110 s
of training, change nothing); indel_variant_copies 0.9276 / 0.9037, +0.0011 [-0.0259, +0.0272] (50 %: 32
FN, 17 FP; full -0.0120 [-0.0253, +0.0040]); indel_copies 0.9331 / 0.9000, -0.0026 [-0.0182, +0.0112] (50 %: 37
FN, 13 FP; full -0.0065 [-0.0136, +0.0014]). None beyond noise. Multiplying realign_only's het and hom-alt
probabilities of indel candidates by w after the fact (a prior shift, no training) moves the 50 % INDEL F1
to 0.9116 (w 1.5), 0.9080 (2), 0.9035 (3): most misses are not near the decision.
realign_pruned (RealignerConfig.min_haplotype_reads=2, DeepVariant's dbg_min_edge_weight pruning) 0.9396 / 0.9124
(50 %: 33 FN, 11 FP), paired +0.0098 [-0.0076, +0.0270] (full 0.0000 [-0.0118, +0.0138]); against bcftools PASS
at 50 % +0.0116 [-0.0046, +0.0284]: the best 50 % figure so far, not beyond noise. Its hom-alt sites called het
at 50 % drop from 7 to 4 (chr10:5846, 489919 and 843012 fixed; 98957, 194223, 705618 and 845404, all in
homopolymers or short repeats, remain). On the demo DNA BAM aligned again with the second mate's soft clips on
the right end (lowcov.align; before, every soft-clipped mate-2 record had its clip on the wrong end, so its
aligned bases were shifted by the clip length), realign_only gives 0.9375 / 0.8938 (50 %: 39 FN, 14 FP) against
bcftools 0.8885 / 0.8771 ALL, 0.9030 / 0.9067 PASS on the same BAM (not paired with the rows above: another
BAM); its training examples are 29,183 instead of 36,238 (hom-ref 7,267 instead of 14,338: half of the hom-ref
candidates came from the misplaced clips).
On that BAM (and the variants below): realign_pruned 0.9511 / 0.9004 (50 %: recall 0.8626, precision 0.9417),
paired against realign_only +0.0136 [-0.0023, +0.0352] / +0.0066 [-0.0057, +0.0202], against bcftools PASS at
50 % -0.0063 [-0.0229, +0.0146]; on chr1 (``--contig chr1``, the same models) realign_only 0.9391 / 0.8848 (chapter
3's figures exactly), realign_pruned 0.9399 / 0.8935, paired +0.0008 [-0.0040, +0.0056] / +0.0087 [+0.0001,
+0.0169], against bcftools PASS at 50 % -0.0110 [-0.0262, +0.0036] (pruning became the default).
realign_pruned_ties (DeepVariant's tie rule) 0.9243 / 0.8469, against realign_pruned -0.0268 [-0.0437, -0.0098] /
-0.0535 [-0.0810, -0.0278]: worse (50 % recall 0.8130); realign_pruned_uninformative 0.9400 / 0.8827, -0.0110
[-0.0322, +0.0090] / -0.0177 [-0.0354, -0.0010]. Error analysis of realign_pruned on chr1 at 50 %: 31 deletion FNs
against bcftools' 14, 23 of them hets with 1-5 carrying reads, mostly outside repeats (chr1:556786 ATG>A 2 of 10
reads, 754493 GC>G 2 of 9, 2000258 ATCT>A 2 of 19); 32 deletion FPs, 31 het, nearly all one-base deletions in runs
of 14 or more A or T with 3-7 carrying reads (the simulator's stutter): the model does not tell a run's stutter
from a real deletion in unique sequence as well as bcftools' run-length-aware indel model does.
realign_pruned_homopolymer (+ DeepVariant's optional homopolymer_weighted channel; the book's since): chr10 0.9650 /
0.9228, against realign_pruned +0.0139 [+0.0053, +0.0265] / +0.0224 [+0.0081, +0.0419], against bcftools PASS at 50 %
+0.0161 [-0.0003, +0.0387]; chr1 0.9558 / 0.9129, against realign_pruned +0.0159 [+0.0061, +0.0262] / +0.0194
[+0.0080, +0.0319], against bcftools PASS at 50 % +0.0084 [-0.0086, +0.0241]; SNP F1 unchanged (chr1 50 % 0.9825,
bcftools ALL 0.9836).
On the genome simulated from seed 7 (``--profile benchmarks/profiles/demo_seed7.yaml --contig chr1``, models trained
on that genome): realign_only 0.9572 / 0.8865, bcftools 0.8751 / 0.8763 ALL, 0.8916 / 0.9003 PASS;
realign_pruned_homopolymer 0.9533 / 0.9051, paired against realign_only -0.0039 [-0.0131, +0.0058] / +0.0186
[+0.0020, +0.0344], against bcftools PASS at 50 % +0.0048 [-0.0146, +0.0235]; SNP F1 at 50 % 0.9790 (realign_only
0.9810, paired -0.0020 [-0.0040, -0.0000]; bcftools ALL 0.9794, paired -0.0004 [-0.0053, +0.0052]).
Training-seed spread (``--train-seed 11``, demo chr1): realign_pruned_homopolymer 0.9523 / 0.8972 against the book's
seed (2024) 0.9558 / 0.9129, paired -0.0035 [-0.0104, +0.0026] / -0.0157 [-0.0255, -0.0069]; against bcftools PASS at
50 % -0.0073 [-0.0277, +0.0114]; SNP 0.9992 / 0.9817. The bootstrap over sites does not hold the training seed's
variation, which at 50 % is as large as the margin over bcftools.
Four training seeds on demo chr1 (2024 the book's, 3, 5, 11), full / 50 %: INDEL F1 0.9558 / 0.9129, 0.9549 / 0.9127,
0.9610 / 0.9116, 0.9523 / 0.8972 against bcftools PASS 0.9116 / 0.9045 (50 %: +0.0084, +0.0082, +0.0071, -0.0073);
SNP F1 0.9994 / 0.9825, 0.9994 / 0.9823, 0.9998 / 0.9821, 0.9992 / 0.9817 against bcftools ALL 0.9988 / 0.9836 (50 %:
-0.0011, -0.0013, -0.0015, -0.0019, each inside its interval, all four below). The same four seeds on the seed-7
genome's chr1: INDEL 0.9533 / 0.9051, 0.9562 / 0.9159, 0.9581 / 0.9217, 0.9496 / 0.9030 against PASS 0.8916 / 0.9003
(50 %: +0.0048, +0.0156, +0.0214, +0.0028); SNP 0.9984 / 0.9790, 0.9988 / 0.9802, 0.9988 / 0.9810, 0.9986 / 0.9796
against ALL 0.9984 / 0.9794 (full: -0.0000, +0.0004, +0.0004, +0.0002; 50 %: -0.0004, +0.0008, +0.0016, +0.0002).
The book's seed is the best of four on demo chr1 and the worst on the seed-7 genome. The SNP shortfall at 50 % is
hom-alt sites called het (book's seed: 6, bcftools 0), four of them with no read showing the reference base: one read
shows a third base or a deletion there (chr1:454083, 1585278, 1924676; seed-7 genome 848548, 1517010, 1902035,
2026873). The demo's one-copy training set teaches the opposite (SNP examples at depth 5-15 with one read not carrying
the alt: when that read shows a third base, 135 hom-alt against 4 het; when it shows the reference, 67 against 118),
but the network does not look: on chr1:848548 of the seed-7 genome it gives het 0.53 / hom-alt 0.47, 0.55 / 0.45 with
that read's base made the reference's, and hom-alt 0.96 with the read removed.
realign_pruned_homopolymer_other_alt (DeepVariant's ``--add_supporting_other_alt_color``: reads carrying another alt
allele of the site drawn 76 instead of 152, so a 1/2 site's image for one alt no longer looks like a hom-alt site with
an error read; 171 of the 172 het training examples with no reference read and a third base were such 1/2 sites):
chr10 0.9393 / 0.9014, against realign_pruned_homopolymer -0.0256 [-0.0481, -0.0048] / -0.0214 [-0.0374, -0.0080],
SNP at 50 % -0.0023 [-0.0043, -0.0004]; hom-alt SNPs called het at 50 % still 4, three without a reference read.
Worse: not adopted (the option stays, as in DeepVariant off by default). A per-read 1x1 convolution on the
candidate's column beside the 33-column one (code not kept) left chr1 where it was (50 % SNP -0.0000, INDEL -0.0072
[-0.0186, +0.0021]; 5 hom-alt SNPs called het).
fraction_copies (a second independent subset of the reads at 0.5 and at 0.3, 2 epochs instead of 3 with the learning
rate decaying every third of an epoch: 1,396 steps against 1,368; chapter 3's recipe since), paired against
realign_pruned_homopolymer with the same training seed, full / 50 %: chr10 SNP +0.0004 / +0.0027 [0.0000, +0.0063],
INDEL -0.0078 [-0.0136, -0.0020] / -0.0003 [-0.0107, +0.0114], hom-alt SNPs called het at 50 % 4 -> 1; demo chr1 with
seeds 2024, 3, 5, 11: SNP at 50 % +0.0006, +0.0004, +0.0010, +0.0024 [+0.0010, +0.0039], INDEL at 50 % +0.0034,
+0.0036, +0.0069, +0.0125 [+0.0022, +0.0233], INDEL at full +0.0008, +0.0052, +0.0009, +0.0067; seed-7 genome's chr1,
seed 2024: SNP +0.0002 / +0.0026 [+0.0004, +0.0053], INDEL +0.0001 / +0.0050; seed 11: SNP +0.0002 / +0.0024,
INDEL +0.0037 / +0.0067. Its own figures on demo chr1 (seeds 2024,
3, 5, 11), full / 50 %: INDEL 0.9567 / 0.9163, 0.9602 / 0.9163, 0.9619 / 0.9184, 0.9590 / 0.9096 (50 % against PASS
+0.0118, +0.0118, +0.0139, +0.0051); SNP 0.9994 / 0.9831, 0.9998 / 0.9827, 0.9990 / 0.9831, 0.9992 / 0.9841 (50 %
against ALL -0.0005, -0.0009, -0.0005, +0.0005). Seed-7 genome, seed 2024: INDEL 0.9534 / 0.9101 (PASS +0.0098), SNP
0.9986 / 0.9816 (ALL +0.0002 / +0.0022); seed 11: INDEL 0.9533 / 0.9097 (PASS +0.0094), SNP 0.9988 / 0.9820 (ALL
+0.0004 / +0.0026).
Tried after fraction_copies, each paired against it with the same training seed, 50 % SNP / INDEL F1 (none kept):
fraction_copies_three (a third subset at 0.5 and at 0.3, 2 epochs: 1,876 steps, 210 s of training against 146 s)
chr10 -0.0004 / -0.0018, full INDEL +0.0040, chr1 +0.0006 / +0.0040; fraction_copies_pairs (allele-pair images,
trained on them) chr10 -0.0016 [-0.0046, +0.0008] / -0.0021, chr1 +0.0010 / -0.0060. Code not kept: batch norms of
the per-read branch over the reads present only (the empty rows below the reads set its statistics; 84 % of the
rows at 50 %) chr10 -0.0000 / -0.0033, chr1 -0.0014 [-0.0027, -0.0000] / -0.0025; the per-read branch's pooled
features batch-normalised (its read-count features reached the classifier with weights as small as the others'
while they are ~10 times smaller) chr10 +0.0012 / -0.0181 [-0.0322, -0.0079], chr1 +0.0002 / -0.0015; twice the
training sites (the demo's and the seed-7 genome's training examples together, 89,731, 2 epochs, 2,806 steps) chr10
+0.0004 / -0.0018, chr1 +0.0002 / +0.0101, 7 hom-alt SNPs still called het at 50 %: more data of the same kind does
not close the SNP gap; no weight decay (``config.weight_decay=0``) chr10 -0.0020 [-0.0038, 0.0000] / -0.0021, chr1
+0.0000 / -0.0018; the per-read branch given base quality times read-supports-variant and times
base-differs-from-reference as two more inputs (code not kept) chr10 -0.0012 / +0.0027, chr1 -0.0004 / +0.0008.
``--likelihood`` adds a yardstick (:func:`likelihood_snp_calls`: the simulator's own
substitution model, priors fitted to the judged contig's truth). At 50 % it beats both callers: SNP F1 demo chr1
0.9885 [0.9854, 0.9913] (bcftools ALL +0.0049 [+0.0015, +0.0084], fraction_copies -0.0054 [-0.0100, -0.0014]),
seed-7 chr1 0.9864 (model -0.0048 [-0.0076, -0.0018]), demo chr10 0.9895 (model -0.0028 [-0.0057, +0.0007]); at
full coverage it is below both (0.9961, 0.9953, 0.9954: it ignores alignment errors). So the reads decide more SNP
genotypes at 50 % than either caller gets right; the network's share of the gap is genotypes (demo chr1: 7 hom-alt
called het and 10 het called hom-alt, against 2 and 3 for the yardstick) and calls on two low-quality reads. It
weighs the alt reads' quality around the candidate rather than the alt bases' own (benchmarks/quality_sensitivity.py,
the book's model): on the training images' 3,971 SNP candidates with two supporting reads at depth 6-12 a logistic fit
of the het label gives +0.467 (se 0.037) per Phred of the supporting bases' quality and -0.036 (0.043) per Phred of
their reads' quality in the 32 columns around (r = 0.86 between the two), while on 60 such candidates of chr1 at 50 %
setting the two supporting bases from Q10 to Q40 moves het by +0.016 on average and setting the reads' 33 columns
around the candidate by +0.164 (an earlier probe, at chr1:193473 with the bases alone, saw only the smaller part and
took it for a network blind to quality). Tried after that, paired against fraction_copies with the same seed, chr10
then chr1, full / 50 % SNP and INDEL F1 (code not kept): a per-read head whose logit terms are summed over the reads
and added to the classifier's (chr10 50 % SNP -0.0079 [-0.0139, -0.0020], INDEL -0.0123: the sum over up to 95 reads
made the steps too large, training loss above fraction_copies' throughout); the same from a branch of its own scaled
by 1/8 (chr10 50 % -0.0020 / -0.0040, chr1 -0.0020 / -0.0028); a 1x1 convolution on the candidate's column added to
the per-read branch's first layer (chr10 50 % -0.0008 / -0.0145; on eight sites the base's response fell from 0.09 to
0.01); the per-read branch twice as wide with a third layer (chr10 50 % -0.0000 / +0.0061, chr1 +0.0008 / -0.0067;
seeds 3 and 5 on chr10 -0.0027 / -0.0141 and -0.0031 / -0.0079); the per-read branch blind to quality outside the
candidate's column (chr10 50 % -0.0012 / -0.0021; base response +0.021, window +0.038: it did not learn the base's
quality instead); a per-read auxiliary loss, each supporting read's allele an error exactly when the site is hom-ref
(chr10 50 % -0.0004 / -0.0083; base response +0.014); and the per-read features also averaged over the supporting
reads and over the others (the support-pooled network). That last one fit the tune examples better with each of four
seeds (tune loss 0.1323-0.1352 against 0.1426-0.1439, accuracy 0.9644-0.9668 against 0.9630-0.9634) and follows the
alt reads' quality (window response +0.811, base +0.044; het 0.39 at supporting bases of Q25-30, labelled 0.52), but
chr10's 50 % F1 does not follow: seeds 2024, 3, 5, 11 SNP +0.0004, -0.0027 [-0.0057, -0.0004], -0.0008, +0.0008, INDEL
+0.0006, -0.0131 [-0.0247, -0.0011], -0.0174 [-0.0265, -0.0067], -0.0116 [-0.0251, +0.0031]. Not adopted. chr1's 50 %
SNP F1 moved by +0.0014, +0.0030, +0.0004 and -0.0010 (with seed 2024 0.9845, bcftools ALL +0.0009 [-0.0026,
+0.0046]); taking it for chr1 would fit the test contig.
Why the bases' quality stays unread: Adam moves every weight at about the same rate, and the per-read branch's first
convolution gives a read's quality around the candidate 33 taps per channel against the base's one, so the read-level
proxy wins. Training with each read's quality outside the candidate's column shifted by one random offset per read (sd
about 5 Phred) did not redirect it: chr10 50 % -0.0031 [-0.0059, -0.0008] / -0.0148 [-0.0276, -0.0021], base response
+0.008, window +0.059 (it read quality less altogether). A 1x1 path from the candidate's column into the per-read
branch's first layer, zero-initialised and multiplied by 33 so that its reach per step matches the window's, did:
base response +0.118, window +0.159; but F1 did not follow (chr10 50 % -0.0008 / -0.0105, chr1 -0.0006 / -0.0118).
Both together (support pool + centre gain) read the base (response +0.506, window +0.584; het 0.42 at bases of Q25-30,
labelled 0.52) and fit the tune examples best of all (seeds 2024, 3, 5, 11: tune loss 0.1318, 0.1307, 0.1315, 0.1321;
accuracy 0.9674, 0.9664, 0.9648, 0.9638). On chr10, seeds 2024, 3, 5, 11: full SNP -0.0004, -0.0008, -0.0008,
-0.0008, full INDEL +0.0039, +0.0040, +0.0022, +0.0201 [+0.0078, +0.0346]; 50 % SNP +0.0027 [-0.0000, +0.0064],
-0.0008, -0.0031, -0.0000, 50 % INDEL -0.0033, -0.0073, -0.0113 [-0.0214, -0.0018], -0.0030. Lower at 50 % INDEL with
every seed, where the question lives: not adopted. chr1, the same seeds, 50 % SNP +0.0018, +0.0024, +0.0033, -0.0016
(seed 2024: 0.9849, bcftools ALL +0.0012 [-0.0025, +0.0047]), 50 % INDEL +0.0021, -0.0080, +0.0048, -0.0031.
Where the 50 % SNP calls turn, fraction_copies with the book's seed, trained in float32 on a CPU without bfloat16
(chr10 50 % SNP F1 0.9851 against bcftools ALL 0.9847, +0.0004 [-0.0042, +0.0044]; the yardstick 0.9895): of the
model's SNP errors there that the yardstick gets right (15 sites), 8 are hets called hom-ref with 3-4 of 10-19 reads
carrying the allele at Q15-31 (bcftools calls 3 of the 8: chr10:22693, 486459 and 759426; 486459 has three alt reads
at Q25, Q29 and Q31 of 13), 4 are hets with 2-3 reference reads of 9-16 called hom-alt, 1 a hom-alt site with one
read showing a third base called het, and 2 are calls where no SNP is. The tune examples say the same
(benchmarks/evidence_calibration.py, same model): with two supporting reads at an alt share of 0.25-0.4 the labelled
het share rises with the supporting bases' quality from 0.06 (below Q20) to 0.78 (Q25 and above) while the model's
het probability rises from 0.24 to 0.57; at a share of 0.15-0.25 and Q25 and above, labelled 0.40, model 0.10; with
three supporting reads at a share of 0.25-0.4 the labels are het 0.97, the model 0.80-0.87. On the het/hom-alt side
the gaps are at most 0.09 (one reference read at depth 8-11: labelled het 0.21, model 0.30; two reference reads at
depth 8-11: labelled 1.00, model 0.91). The training examples show the same gaps (three reads, share 0.25-0.4:
labelled 0.98-1.00, model 0.83-0.88), so it is a failure to fit, not a difference between contigs. One reason the
count is coarse: the classifier sees the per-read branch's features summed over the reads and divided by the image's
95 read rows (beside their mean over the reads present, which carries the share, not the count), so one more
supporting read moves them by 1/95 of its own features. Dividing the sum by 8 instead (run below, with the narrower
blocks) did not help.
Every figure above is of the network with residual blocks 64 channels wide. The blocks are 32 wide since the book ran
96 minutes on a CPU without bfloat16 (lowcov.model.CompactNet says why). fraction_copies, the book's seed, float32,
chr10, 32-wide minus 64-wide F1 paired over blocks: full SNP -0.0008 [-0.0019, 0.0000], INDEL -0.0062 [-0.0148,
+0.0032]; 50 % SNP +0.0031 [+0.0004, +0.0071] (0.9883, bcftools ALL +0.0036 [+0.0013, +0.0057]), INDEL -0.0015
[-0.0171, +0.0130] (0.9167, bcftools PASS +0.0100 [-0.0048, +0.0306]); tune loss 0.1432 against 0.1414; training 422 s
against 869. The 32-wide network with the per-read sum divided by 8: 50 % SNP 0.9863, INDEL 0.9102 (minus the 64-wide
+0.0012, -0.0080), full SNP -0.0008, INDEL -0.0079: not adopted.
chr1, looked at after the width was chosen (--contig chr1 --train-seed 3, 5; seed 2024 from chapter 3's build), 32-wide,
float32, seeds 2024, 3, 5: 50 % SNP 0.9817, 0.9827, 0.9827 (bcftools ALL 0.9836; seed 3 -0.0009 [-0.0042, +0.0025]),
50 % INDEL 0.9142, 0.9093, 0.9154 (PASS 0.9045), full SNP 0.9988, 0.9994, 0.9994 (ALL 0.9988), full INDEL 0.9636,
0.9521, 0.9574 (PASS 0.9116).
Tried with the 32-wide network after that (float32, chr10, paired against fraction_copies with the same seed, full /
50 % F1; neither kept): fraction_copies_no_dropout (no dropout before the classifier, whose 128 inputs carry the
read counts; tune loss 0.1434 against 0.1432) SNP -0.0000 / -0.0020 [-0.0044, +0.0008], INDEL +0.0041 / +0.0000;
fraction_copies_three_epochs (3 epochs, the learning rate decaying every half epoch: 2,094 steps, 1.5 times the
training time) fits the tune examples better with both seeds tried (tune loss 0.1401 and 0.1410 against 0.1432 and
0.1437) but its calls do not follow: seed 2024 SNP +0.0004 / +0.0000, INDEL +0.0020 / +0.0043; seed 3 SNP +0.0004 /
+0.0043 [+0.0016, +0.0076], INDEL -0.0076 / -0.0097 [-0.0192, -0.0016] (lower at 50 % INDEL, where the question
lives).
The 32-wide network on the seed-7 genome's chr1 (``--profile benchmarks/profiles/demo_seed7.yaml --contig chr1``,
fraction_copies trained on that genome, float32), seeds 2024 and 3, full / 50 % F1 with the paired change against
bcftools: SNP 0.9984 / 0.9810 and 0.9984 / 0.9816 against ALL 0.9984 / 0.9794 (full -0.0000 [-0.0016, +0.0014] and
-0.0000: level; 50 % +0.0016 [-0.0031, +0.0069], +0.0022), INDEL 0.9505 / 0.8941 and 0.9496 / 0.9066 against PASS
0.8916 / 0.9003 (50 % -0.0062 [-0.0272, +0.0156], +0.0063 [-0.0148, +0.0270]). The 64-wide network had given 0.9534 /
0.9101 with seed 2024. Seed 2024's 50 % INDEL misses there: 45 insertions (28 hom-alt, 11 longer than 15 bp, 60 % with
a soft-clipped read within 10 bp) and 24 deletions; recall 0.8727 against bcftools' 0.9004, precision 0.9165 against
0.9002. On demo chr1 at 50 % the book's 32-wide model (seed 2024) against bcftools, SNP sites in the confident
regions: hets missed 50 (bcftools 63), hets called hom-alt 11 (8), hom-alt sites called het 4 (0), calls where no SNP
is 12 (3), 10 of them at QUAL 3-6 (the model's SNP calls at QUAL 3-6 are right 15 times in 25, so dropping them would
lower F1).
"""
from __future__ import annotations

import argparse
import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pysam

from lowcov import bootstrap
from lowcov.benchmark.regions import RegionSet
from lowcov.downsample import downsample_bam, extract_contig
from lowcov.fileio import atomic_output
from lowcov.layout import Layout
from lowcov.make_examples import ExamplesConfig, IndelEmphasis
from lowcov.pileup import OTHER_ALT_SUPPORTS, WGS_CHANNELS, PileupConfig
from lowcov.realigner import RealignerConfig
from lowcov.shards import ExampleSet
from lowcov.study import evaluation
from lowcov.study.original_model import DEMO_ORIGINAL_OVERRIDES, DEMO_READ_FRACTIONS, train_original_model

#: example settings of each variant measured for issue 16 (``realign_pruned_homopolymer`` is the book's since it
#: was measured); the others keep the settings they were measured with, DeepVariant's WGS channels among them
_UNPRUNED = RealignerConfig(min_haplotype_reads=0)  # the realigner before pruning became its default
_WGS = PileupConfig(channels=WGS_CHANNELS)
_BEFORE = ExamplesConfig(realigner=RealignerConfig(enabled=False), pileup=_WGS)
_REALIGN_ONLY = ExamplesConfig(realigner=_UNPRUNED, pileup=_WGS)
_DEEPVARIANT_DRAWING = PileupConfig(indel_drawing="deepvariant", channels=WGS_CHANNELS)
_PRUNED = RealignerConfig(min_haplotype_reads=2)
VARIANTS: dict[str, ExamplesConfig] = {
    "baseline": _BEFORE,  # the engine before issue 16
    "realign_only": _REALIGN_ONLY,  # + local realignment, without pruning
    "pairs_only": replace(_BEFORE, allele_pairs=True),  # + allele-pair images
    "realign_pairs": replace(_REALIGN_ONLY, allele_pairs=True),
    "dv_indels": replace(_BEFORE, pileup=_DEEPVARIANT_DRAWING),  # + DeepVariant's indel drawing (needs training)
    "all": replace(_REALIGN_ONLY, pileup=_DEEPVARIANT_DRAWING, allele_pairs=True),  # every part of issue 16
    "realign_dv_indels": replace(_REALIGN_ONLY, pileup=_DEEPVARIANT_DRAWING),  # realignment + DeepVariant's drawing
    "realign_low_fractions": _REALIGN_ONLY,  # realign_only's examples, trained on more low-coverage copies
    "more_epochs": _REALIGN_ONLY,  # realign_only's examples, trained for 5 epochs instead of 3
    # + a copy of every indel example made at read fractions <= 0.5 (lowcov's emphasis, not DeepVariant's)
    "indel_copies": replace(_REALIGN_ONLY, indel_emphasis=IndelEmphasis()),
    # + a copy of the indel examples labelled het or hom-alt at read fractions <= 0.5 (a prior towards calling)
    "indel_variant_copies": replace(_REALIGN_ONLY, indel_emphasis=IndelEmphasis(variants_only=True)),
    # + haplotypes fewer than 2 reads fit better than the reference dropped (DeepVariant's dbg_min_edge_weight
    # pruning)
    "realign_pruned": ExamplesConfig(realigner=_PRUNED, pileup=_WGS),
    # + DeepVariant's tie rule: a read fitting an alternate haplotype as well as the reference takes the alternate
    "realign_pruned_ties": ExamplesConfig(realigner=replace(_PRUNED, ties_to_alternate=True), pileup=_WGS),
    # + reads that fit an indel allele and the reference equally drawn with their own read_supports_variant value
    "realign_pruned_uninformative": ExamplesConfig(realigner=_PRUNED, pileup=replace(_WGS, uninformative_support=203)),
    # + DeepVariant's optional homopolymer_weighted channel (each base's run length in its read): the book's examples
    "realign_pruned_homopolymer": ExamplesConfig(),
    # + DeepVariant's --add_supporting_other_alt_color: reads carrying another alt allele of the site drawn 76, not 152
    "realign_pruned_homopolymer_other_alt": ExamplesConfig(pileup=PileupConfig(other_alt_support=OTHER_ALT_SUPPORTS)),
    # the book's examples, with a second independent subset of the reads at 0.5 and at 0.3 (VARIANT_READ_FRACTIONS):
    # chapter 3's recipe since it was measured
    "fraction_copies": ExamplesConfig(),
    # fraction_copies with a third subset at 0.5 and at 0.3, 2 epochs (a third more steps)
    "fraction_copies_three": ExamplesConfig(),
    # fraction_copies with allele-pair images (trained on them)
    "fraction_copies_pairs": ExamplesConfig(allele_pairs=True),
    # fraction_copies' examples, trained without dropout before the classifier (backbone_dropout_rate 0)
    "fraction_copies_no_dropout": ExamplesConfig(),
    # fraction_copies' examples, trained for 3 epochs with the learning rate decaying every half epoch
    "fraction_copies_three_epochs": ExamplesConfig(),
}
def _overridden(*changes: str) -> list[str]:
    """The book's training overrides (DEMO_ORIGINAL_OVERRIDES) with ``changes`` replacing the same keys."""
    keys = {change.partition("=")[0] for change in changes}
    return [o for o in DEMO_ORIGINAL_OVERRIDES if o.partition("=")[0] not in keys] + list(changes)


#: the original model's recipe before fraction_copies became the book's: one subset per fraction, 3 epochs with
#: the learning rate decaying every half epoch. Every variant but fraction_copies was measured with it and keeps it.
ONE_COPY_FRACTIONS = (1.0, 0.75, 0.5, 0.3)
ONE_COPY_OVERRIDES = _overridden("config.num_epochs=3", "config.learning_rate_num_epochs_per_decay=0.5")
#: training read fractions of a variant, when not ONE_COPY_FRACTIONS
VARIANT_READ_FRACTIONS: dict[str, tuple[float, ...]] = {"realign_low_fractions": (1.0, 0.75, 0.5, 0.4, 0.3),
                                                         "fraction_copies": DEMO_READ_FRACTIONS,
                                                         "fraction_copies_three": (1.0, 0.75, 0.5, 0.5, 0.5, 0.3, 0.3,
                                                                                   0.3),
                                                         "fraction_copies_pairs": DEMO_READ_FRACTIONS,
                                                         "fraction_copies_no_dropout": DEMO_READ_FRACTIONS,
                                                         "fraction_copies_three_epochs": DEMO_READ_FRACTIONS}
#: training overrides of a variant, when not ONE_COPY_OVERRIDES
VARIANT_OVERRIDES: dict[str, list[str]] = {
    "more_epochs": _overridden("config.num_epochs=5", "config.learning_rate_num_epochs_per_decay=0.5"),
    # 1.5 times the examples for 2 epochs: the same number of steps, the learning rate decaying at the same steps
    "fraction_copies": DEMO_ORIGINAL_OVERRIDES,
    "fraction_copies_three": _overridden("config.learning_rate_num_epochs_per_decay=0.25"),
    "fraction_copies_pairs": DEMO_ORIGINAL_OVERRIDES,
    "fraction_copies_no_dropout": _overridden("config.backbone_dropout_rate=0.0"),
    "fraction_copies_three_epochs": _overridden("config.num_epochs=3", "config.learning_rate_num_epochs_per_decay=0.5"),
}
#: variants that change training alone: they train on, and call with, the examples of the variant named here
#: (the same settings: made once, not again under another name)
VARIANT_EXAMPLES_OF: dict[str, str] = {"more_epochs": "realign_only", "fraction_copies_no_dropout": "fraction_copies",
                                        "fraction_copies_three_epochs": "fraction_copies"}


def examples_variant(variant: str) -> str:
    """The variant whose training examples ``variant`` uses (itself unless it changes training alone)."""
    return VARIANT_EXAMPLES_OF.get(variant, variant)


def calling_variant(variant: str) -> str:
    """The first variant whose calling examples are made with the same settings as ``variant``'s (training-only
    settings, such as the indel emphasis, do not change them): its calling examples are ``variant``'s."""
    calling = replace(VARIANTS[variant], indel_emphasis=None)
    return next(name for name, config in VARIANTS.items() if replace(config, indel_emphasis=None) == calling)

#: stages written for the evaluation, kept apart from the book's files (also when the contig is chr1)
_OWN_STAGES = {"calls", "benchmark", "examples", "coverage"}


@dataclass(frozen=True)
class ContigLayout(Layout):
    """The book's layout with ``contig`` (default: the tune contig) in the test contig's place, for evaluation
    only (its ``training_contigs`` could include the test contig: never train with it)."""

    variant: str = "baseline"
    contig: str | None = None

    @property
    def test_contig(self) -> str:
        return self.contig or Layout.tune_contig.fget(self)

    @property
    def is_tune_contig(self) -> bool:
        return self.test_contig == Layout.tune_contig.fget(self)

    def dna_test_bam(self, fraction: float = 1.0) -> Path:
        suffix = "" if fraction >= 1.0 else f".ds{round(fraction * 100):02d}"
        return Layout.stage(self, "dna") / f"dna.{self.test_contig}{suffix}.bam"

    def stage(self, name: str) -> Path:
        if name not in _OWN_STAGES:
            return super().stage(name)
        path = self.root / self.test_contig / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def examples_dir(self, name: str) -> Path:
        return self.stage("examples") / f"{name}.{self.variant}"

    def training_contigs(self, reference=None):
        raise RuntimeError("ContigLayout evaluates on one contig; train with the book's Layout")


def contig_bams(book: Layout, tune: ContigLayout) -> None:
    """The contig's reads at full coverage and at the profile's downsampled fraction (chapter 1's steps for
    chr1; for chr1 itself these are chapter 1's files, reused)."""
    downsample = book.spec.downsample
    full, low = tune.dna_test_bam(1.0), tune.dna_test_bam(downsample.fraction)
    if not full.exists():
        extract_contig(book.dna_bam, full, tune.test_contig, threads=2)
    if not low.exists():
        downsample_bam(full, low, downsample.fraction, seed=downsample.seed, progress=False)


#: the name of the likelihood caller's calls (``--likelihood``)
LIKELIHOOD = "likelihood_snp"


def _snp_priors(truth_vcf: Path, confident: RegionSet, contig: str) -> dict[str, float]:
    """Per-base rates of het, hom-alt and het-alt (1/2) SNPs among the truth's records in the contig's confident
    regions: the likelihood caller's priors, fitted to the contig it is judged on."""
    starts, kinds = [], []
    with pysam.VariantFile(str(truth_vcf)) as truth:
        for record in truth.fetch(contig):
            genotype = record.samples[0]["GT"]
            if (genotype is None or None in genotype or not any(genotype) or len(record.ref) != 1
                    or any(len(alt) != 1 for alt in record.alts)):
                continue
            starts.append(record.start)
            kinds.append("hom" if len(set(genotype)) == 1 else ("hetalt" if 0 not in genotype else "het"))
    starts_array = np.array(starts, dtype=np.int64)
    confident_kinds = np.array(kinds)[confident.covers(contig, starts_array, starts_array + 1)]
    length = confident.size(contig)
    return {kind: int((confident_kinds == kind).sum()) / length for kind in ("het", "hom", "hetalt")}


def _log_likelihood(bases: np.ndarray, errors: np.ndarray, first: int, second: int) -> float:
    """log P(reads | genotype first/second), each base wrong with its quality's probability, to any other base
    alike: the simulator's substitution model (lowcov.simulate.dna)."""
    def given(allele: int) -> np.ndarray:
        return np.where(bases == allele, 1 - errors, errors / 3)
    return float(np.log(0.5 * given(first) + 0.5 * given(second)).sum())


def likelihood_snp_calls(tune: ContigLayout, dataset: str) -> Path:
    """SNP calls on the contig by the demo simulator's own substitution model: at every confident position where
    two or more reads show the same non-reference base (the candidate rule's count), the genotype of highest
    posterior among ref/ref, ref/a, a/a, ref/b, b/b and a/b (a, b: the two most frequent other bases), with the
    priors of :func:`_snp_priors`. It knows what the simulator does to bases (calibrated qualities, independent
    errors) and ignores indels, mapping and alignment errors: a yardstick of how well the reads at the site
    alone decide a SNP genotype, not a caller for real data."""
    out = tune.calls_vcf(LIKELIHOOD, dataset)
    if out.exists():
        return out
    contig, bam_path = tune.test_contig, tune.dna_test_bam(evaluation.fraction_of(dataset))
    confident = RegionSet.from_bed(evaluation.test_confident_bed(tune))
    priors = _snp_priors(tune.truth_vcf, confident, contig)
    log_prior = {kind: np.log(rate / 3) for kind, rate in priors.items()}  # each of three alternative bases
    log_prior["ref"] = np.log(1 - sum(priors.values()))
    with pysam.FastaFile(str(tune.dna_reference)) as fasta:
        sequence = fasta.fetch(contig).upper()
    reference = np.frombuffer(sequence.encode(), np.uint8)
    base_index = np.full(256, -1, np.int8)
    base_index[np.frombuffer(b"ACGT", np.uint8)] = np.arange(4)
    reference_index = base_index[reference]
    with pysam.AlignmentFile(str(bam_path)) as bam, atomic_output(out) as tmp:
        counts = np.array(bam.count_coverage(contig, 0, len(sequence), quality_threshold=0, read_callback="all"),
                          dtype=np.int64)
        known = np.flatnonzero(reference_index >= 0)
        counts[reference_index[known], known] = 0  # what remains: reads showing another base
        header = pysam.VariantHeader()
        header.contigs.add(contig, length=len(sequence))
        header.add_meta("FORMAT", items=[("ID", "GT"), ("Number", "1"), ("Type", "String"),
                                         ("Description", "Genotype")])
        header.add_sample("SAMPLE")
        with pysam.VariantFile(str(tmp), "wz", header=header) as vcf:
            candidates = np.flatnonzero((reference_index >= 0) & (counts.max(axis=0) >= 2))
            for pos in candidates[confident.covers(contig, candidates, candidates + 1)]:
                bases, qualities = [], []
                for column in bam.pileup(contig, int(pos), int(pos) + 1, truncate=True, min_base_quality=0,
                                         stepper="nofilter", ignore_overlaps=False, max_depth=100000):
                    for read in column.pileups:
                        if not read.is_del and not read.is_refskip:
                            bases.append(base_index[ord(read.alignment.query_sequence[read.query_position])])
                            qualities.append(read.alignment.query_qualities[read.query_position])
                bases_array = np.array(bases, np.int8)
                errors = 10.0 ** (-np.array(qualities, np.float64) / 10)
                ref = int(reference_index[pos])
                a, b = [int(i) for i in np.argsort(-counts[:, pos], kind="stable") if i != ref][:2]
                genotypes = {(ref, ref): log_prior["ref"], (ref, a): log_prior["het"], (a, a): log_prior["hom"],
                             (ref, b): log_prior["het"], (b, b): log_prior["hom"], (a, b): log_prior["hetalt"]}
                first, second = max(genotypes, key=lambda g: genotypes[g] + _log_likelihood(bases_array, errors, *g))
                if (first, second) == (ref, ref):
                    continue
                alts = [allele for allele in dict.fromkeys((first, second)) if allele != ref]
                record = vcf.new_record(contig=contig, start=int(pos),
                                        alleles=[sequence[pos]] + ["ACGT"[i] for i in alts])
                record.samples["SAMPLE"]["GT"] = tuple(0 if allele == ref else 1 + alts.index(allele)
                                                       for allele in (first, second))
                vcf.write(record)
        pysam.tabix_index(str(tmp), preset="vcf", force=True)
    return out


def _benchmark_records(prefix: Path) -> pd.DataFrame:
    """The benchmark's annotated VCF as rows: side (TRUTH/QUERY), decision, alleles, genotype class."""
    rows = []
    with pysam.VariantFile(f"{prefix}.vcf.gz") as vcf:
        for rec in vcf:
            if "CONF" not in (rec.info.get("Regions") or ()):
                continue
            for side in ("TRUTH", "QUERY"):
                call = rec.samples[side]
                decision = call.get("BD")
                if decision in ("FN", "FP"):
                    gt = [a for a in (call.get("GT") or ()) if a is not None]
                    alt = rec.alleles[max(gt)] if gt and max(gt) > 0 else rec.alts[0]
                    rows.append({"side": side, "decision": decision, "pos": rec.pos, "ref": rec.ref, "alt": alt,
                                 "genotype": call.get("BLT"), "match": call.get("BK") or "."})
    return pd.DataFrame(rows)


def _kind(ref: str, alt: str) -> str:
    if len(ref) == len(alt):
        return "SNP"
    return "insertion" if len(alt) > len(ref) else "deletion"


def _length_class(ref: str, alt: str) -> str:
    n = abs(len(alt) - len(ref))
    return "0" if n == 0 else "1" if n == 1 else "2-5" if n <= 5 else "6-15" if n <= 15 else ">15"


def read_evidence(bam: Path, contig: str, pos: int, ref: str, alt: str, near: int = 10) -> dict:
    """Reads at a site (1-based ``pos``): depth, reads carrying an indel of the same kind and length within
    ``near`` bp (SNP: the alt base), reads soft-clipped within ``near`` bp; for a SNP also the reads showing the
    reference base there and those showing a third base or a deletion (what tells a hom-alt site with one
    sequencing error from a het site)."""
    kind, length = _kind(ref, alt), abs(len(alt) - len(ref))
    depth = carrying = clipped = reference = other = 0
    with pysam.AlignmentFile(str(bam)) as reads:
        for read in reads.fetch(contig, max(0, pos - 1 - near), pos + len(ref) + near):
            if read.is_unmapped or read.is_secondary or read.is_duplicate or read.mapping_quality < 5:
                continue
            depth += 1
            cigar = read.cigartuples or []
            if cigar and ((cigar[0][0] == 4 and abs(read.reference_start - pos) <= near)
                          or (cigar[-1][0] == 4 and abs(read.reference_end - pos) <= near)):
                clipped += 1
            if kind == "SNP":
                if not read.reference_start <= pos - 1 < read.reference_end:
                    continue
                base = next((read.query_sequence[q] if q is not None else "-"
                             for q, r in read.get_aligned_pairs() if r == pos - 1), None)
                carrying += base == alt
                reference += base == ref
                other += base is not None and base not in (ref, alt)
                continue
            at = read.reference_start
            for op, n in cigar:
                if (op == 1 and kind == "insertion") or (op == 2 and kind == "deletion"):
                    if n == length and abs(at - pos) <= near:
                        carrying += 1
                        break
                if op in (0, 2, 3, 7, 8):
                    at += n
    return {"depth": depth, "carrying": carrying, "soft_clipped_near": clipped, "reference_reads": reference,
            "other_reads": other}


def error_breakdown(prefix: Path, bam: Path, contig: str, examples: ExampleSet) -> pd.DataFrame:
    """The model's FNs and FPs in the confident regions, each with its read evidence and candidate status."""
    errors = _benchmark_records(prefix)
    if errors.empty:
        return errors
    candidates = set()
    for shard in examples.iter_shards():
        candidates.update(zip(shard.meta["position"].tolist(), shard.meta["ref"].tolist(),
                              shard.meta["alt"].tolist()))
    candidate_positions = {p for p, _, _ in candidates}
    evidence = [read_evidence(bam, contig, r.pos, r.ref, r.alt) for r in errors.itertuples()]
    errors = pd.concat([errors, pd.DataFrame(evidence)], axis=1)
    errors["kind"] = [_kind(r, a) for r, a in zip(errors.ref, errors.alt)]
    errors["length"] = [_length_class(r, a) for r, a in zip(errors.ref, errors.alt)]
    errors["candidate"] = ["allele" if (p, r, a) in candidates else "site" if p in candidate_positions else "none"
                           for p, r, a in zip(errors.pos, errors.ref, errors.alt)]
    errors["support"] = pd.cut(errors.carrying, [-1, 0, 1, 2, 4, 1000], labels=["0", "1", "2", "3-4", "5+"])
    return errors


def print_breakdown(errors: pd.DataFrame, label: str) -> None:
    if errors.empty:
        print(f"\n{label}: no errors")
        return
    for decision in ("FN", "FP"):
        part = errors[(errors.decision == decision) & (errors.side == ("TRUTH" if decision == "FN" else "QUERY"))]
        if part.empty:
            continue
        print(f"\n{label}: {len(part)} {decision}")
        for column in ("kind", "genotype", "length", "candidate", "support"):
            table = part.groupby(["kind", column], observed=True).size().unstack(fill_value=0) \
                if column != "kind" else part.groupby("kind").size().to_frame("n").T
            print(table.to_string())
        soft = part.groupby("kind").soft_clipped_near.agg(lambda s: f"{(s > 0).mean():.2f}")
        print("share with a soft-clipped read within 10 bp:", soft.to_dict())
    # hom-alt SNPs called het: a FN whose truth genotype is hom-alt at a site the model called (BK "am" or "lm")
    wrong = errors[(errors.side == "TRUTH") & (errors.kind == "SNP") & (errors.genotype == "homalt")
                   & (errors.match != ".")]
    if not wrong.empty:
        def sites_by_reads(reads: pd.Series) -> dict:
            return reads.clip(upper=2).map({0: "0", 1: "1", 2: "2+"}).value_counts().to_dict()
        print(f"{label}: {len(wrong)} hom-alt SNPs called with another genotype; reference reads there:",
              sites_by_reads(wrong.reference_reads), "third-base or deletion reads:", sites_by_reads(wrong.other_reads))


def model_name(variant: str, model: str, train_seed: int | None = None) -> str:
    """The name of a variant's model and calls; a training seed other than the book's adds ``_seed<N>``."""
    seeded = variant if train_seed is None else f"{variant}_seed{train_seed}"
    return f"original_{seeded}" if model == "train" else f"book_original_{variant}"


def run_variant(variant: str, threads: int, model: str = "train", profile: str = "demo",
                contig: str | None = None, train_threads: int | None = None,
                train_seed: int | None = None) -> dict[str, dict[str, object]]:
    """Call the contig (default: the tune contig) at both coverages with the variant's examples and benchmark the
    calls and bcftools'. The model: ``train`` trains (or reuses) the variant's own original model as chapter 3 does;
    ``book`` calls with the book's original model (``models/original``, trained by chapter 3 on the engine before
    issue 16), which measures a change of the calling examples alone."""
    book = Layout(profile)
    tune = ContigLayout(profile, variant=calling_variant(variant), contig=contig)
    contig_bams(book, tune)
    examples = VARIANTS[variant]
    if model == "book":
        checkpoint = book.model_dir("original") / "checkpoints" / "best.pt"
        if not checkpoint.exists():
            raise SystemExit(f"{checkpoint} is missing: run chapter 3 (notebook 03_original_model) first")
    else:
        fractions = VARIANT_READ_FRACTIONS.get(variant, ONE_COPY_FRACTIONS)
        overrides = list(VARIANT_OVERRIDES.get(variant, ONE_COPY_OVERRIDES))
        if train_threads:  # an execution setting: the run's identity and results stay the same
            overrides.append(f"config.num_threads={train_threads}")
        if train_seed is not None:  # another training run of the same recipe: its own model
            overrides.append(f"config.seed={train_seed}")
        began = time.perf_counter()
        _, trained = train_original_model(book, overrides, examples=examples, read_fractions=fractions,
                                          threads=threads, name=model_name(variant, "train", train_seed),
                                          examples_name=f"dna_original_{examples_variant(variant)}")
        checkpoint = trained.best_checkpoint
        print(f"[{variant}] model {checkpoint} (step {trained.best_step} of {trained.steps}, "
              f"{'reused' if trained.reused else f'{time.perf_counter() - began:.0f} s with its examples'}; "
              f"training alone {trained.wall_seconds:.0f} s)")
    config = evaluation.EvaluationConfig(examples=replace(examples, mode="calling", threads=threads,
                                                          indel_emphasis=None))
    results: dict[str, dict[str, object]] = {}
    name = model_name(variant, model, train_seed)
    for dataset in evaluation.DATASETS:
        results[dataset] = {
            name: evaluation.evaluate_model(tune, name, checkpoint, dataset, config),
            "bcftools": evaluation.evaluate_peer(tune, dataset, config),
        }
    return results


def print_intervals(results: dict[str, dict[str, object]], tune: ContigLayout, this: str,
                    against: list[str]) -> None:
    """Per dataset: recall, precision and F1 with 95 % intervals, paired against bcftools in its ALL rows and
    in its PASS rows (the model's calls are all PASS, so its PASS rows are its ALL rows), and F1 paired
    against each of ``against``."""
    blocks = bootstrap.Blocks.of_bed(evaluation.test_confident_bed(tune))
    caveat = (" (the tune contig: the model's checkpoint was selected on it, so its figures flatter the model a "
              "little)" if tune.is_tune_contig else " (not the tune contig)")
    print(f"\n{tune.profile} {tune.test_contig}{caveat}, {len(blocks)} blocks of {blocks.size} bp; "
          f"change = paired difference against bcftools in the same rows (ALL, then PASS)")
    pd.set_option("display.width", 200)
    for dataset, by_model in results.items():
        for filter_name in ("ALL", "PASS"):
            table = bootstrap.intervals(by_model, blocks, baseline="bcftools", filter_name=filter_name)
            table = table[table.Metric.isin(["METRIC.Recall", "METRIC.Precision", "METRIC.F1_Score"])]
            print(f"\n== {dataset}, {filter_name} rows ==")
            print(table[["Model", "Type", "Metric", "estimate", "low", "high", "change", "change_low",
                         "change_high"]].round(4).to_string(index=False))
        for other in against:
            paired = bootstrap.intervals(by_model, blocks, baseline=other)
            paired = paired[(paired.Model == this) & (paired.Metric == "METRIC.F1_Score")]
            print(f"-- {this} minus {other} (F1, paired):")
            print(paired[["Type", "change", "change_low", "change_high", "direction"]].round(4).to_string(index=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", default="realign_only", choices=sorted(VARIANTS))
    parser.add_argument("--against", nargs="*", default=[],
                        help="variants already run (VARIANT, or book:VARIANT for one called with the book's "
                             "model), compared paired with this one")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--model", default="train", choices=["train", "book"],
                        help="train the variant's model (chapter 3's recipe) or call with the book's original model")
    parser.add_argument("--profile", default="demo", help="a shipped profile's name or a profile YAML (default demo)")
    parser.add_argument("--contig", default=None,
                        help="the contig to judge on (default: the profile's tune contig; the test contig only "
                             "once a choice is made)")
    parser.add_argument("--train-threads", type=int, default=None,
                        help="torch threads of training (default --threads; 1 trains faster on a crowded machine, "
                             "where two threads wait for each other)")
    parser.add_argument("--train-seed", type=int, default=None,
                        help="train with this seed instead of the book's (its own model, named <variant>_seed<N>; "
                             "compare with --against <variant>_seed<N>)")
    parser.add_argument("--no-breakdown", action="store_true")
    parser.add_argument("--likelihood", action="store_true",
                        help=f"add {LIKELIHOOD}: SNP calls by the simulator's own substitution model, with priors "
                             "fitted to the contig's truth (likelihood_snp_calls), as a yardstick of what the reads "
                             "at a site decide")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    results = run_variant(args.variant, args.threads, args.model, args.profile, args.contig, args.train_threads,
                          args.train_seed)
    tune = ContigLayout(args.profile, variant=calling_variant(args.variant), contig=args.contig)
    this = model_name(args.variant, args.model, args.train_seed)
    against = [model_name(o.removeprefix("book:"), "book" if o.startswith("book:") else args.model)
               for o in args.against]
    for name in against:  # benchmarked again from their calls (the code that made them may have changed)
        for dataset in results:
            results[dataset][name] = evaluation.benchmark_calls(tune, tune.calls_vcf(name, dataset), name, dataset)
    if args.likelihood:
        for dataset in results:
            results[dataset][LIKELIHOOD] = evaluation.benchmark_calls(tune, likelihood_snp_calls(tune, dataset),
                                                                      LIKELIHOOD, dataset)
        against.append(LIKELIHOOD)
    print_intervals(results, tune, this, against)
    if not args.no_breakdown:
        for dataset in evaluation.DATASETS:
            bam = evaluation.test_bam(tune, dataset)
            examples = ExampleSet.open(tune.examples_dir(f"calling.{dataset}"))
            for name in (this, "bcftools"):
                errors = error_breakdown(tune.benchmark_prefix(name, dataset), bam, tune.test_contig, examples)
                print_breakdown(errors, f"{name} on {tune.test_contig} {dataset}")
                errors.to_csv(tune.stage("benchmark") / f"{name}.{dataset}.errors.csv", index=False)


if __name__ == "__main__":
    main()
