"""What was fitted to which target: every simulator or model setting of the demo chosen by looking at a
result, with the target it was chosen against (chapter 2 shows the table; the conclusions' limits point to it).

Values are read from the code that uses them, so the table cannot drift from what ran; the targets and how
they were used are the record of how each value was chosen (the notes of the issues that chose them).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..model import COMPACT_BLOCK_WIDTH
from ..pileup import DEFAULT_CHANNELS, WGS_CHANNELS
from ..realigner import RealignerConfig
from ..simulate import DemoConfig
from .fine_tuning import REPLICATE_SEEDS
from .original_model import DEMO_ORIGINAL_OVERRIDES, DEMO_READ_FRACTIONS


@dataclass(frozen=True)
class FittedSetting:
    setting: str
    value: str
    target: str
    how: str


def fitted_settings(config: DemoConfig | None = None) -> list[FittedSetting]:
    """The demo's settings that were chosen by looking at a target."""
    config = config or DemoConfig()
    return [
        FittedSetting("simulate.DemoConfig.intergenic_mean, intron_median, intron_length, exon_length, "
                      "transcript_length",
                      f"{config.intergenic_mean}, {config.intron_median:g}, {config.intron_length}, "
                      f"{config.exon_length}, {config.transcript_length}",
                      "10x the RNA training examples of the first demo (230, which gave V1 and V2 one step per epoch)",
                      "genes packed and introns shortened until exons cover ~75 % of each contig, the most the "
                      "training contigs allow: ~2,300 training examples"),
        FittedSetting("simulate.DemoConfig.expression_sd, rna_read_count",
                      f"{config.expression_sd}, {config.rna_read_count:,} reads",
                      "the case study's RNA depth buckets (67 / 19 / 13 % of covered bases at 1-7 / 8-20 / >20)",
                      "fitted with the gene models above: the spread narrowed and reads added until the training "
                      "contigs' shares came near (58 / 24 / 18 % on the default seed); fewer reads matched closer "
                      "but gave fewer RNA training examples"),
        FittedSetting("simulate.DemoConfig.stutter_homopolymer, stutter_str, stutter_max",
                      f"{config.stutter_homopolymer}, {config.stutter_str}, {config.stutter_max}",
                      "classical callers' INDEL F1 on real 30x GIAB data (0.84-0.95, Supernat et al. 2018)",
                      "PCR stutter in repeats raised until bcftools' INDEL F1 on demo chr1 at 30x landed in that band "
                      "(without it bcftools reached 0.965)"),
        FittedSetting("simulate.DemoConfig.confident_fraction", f"{config.confident_fraction}",
                      "GIAB v3.3.2's share of each chromosome in its confident regions (85-92 %)",
                      "set inside that range"),
        FittedSetting("study.original_model.DEMO_ORIGINAL_OVERRIDES", "; ".join(DEMO_ORIGINAL_OVERRIDES),
                      "SNP and INDEL F1 on the tune contig chr10 at full coverage and at 50 %, against bcftools there",
                      "optimiser, learning rate, batch, epochs and precision compared on chr10, two seeds each; the "
                      "epochs and decay interval later set so that the read-fraction copies below train for the same "
                      "steps"),
        FittedSetting("study.original_model.DEMO_READ_FRACTIONS", ", ".join(map(str, DEMO_READ_FRACTIONS)),
                      "the same chr10 comparison; the second subsets at 0.5 and 0.3: SNP F1 at 50 % on chr10 "
                      "(issue 16)",
                      "coverages mixed into the original model's training examples; the copies kept after chr10 (SNP "
                      "+0.0027 [0.0000, +0.0063] at 50 %, INDEL level at 50 %, -0.0078 [-0.0136, -0.0020] at full "
                      "coverage) and a look at chr1 with two training seeds and at the seed-7 genome's chr1 (SNP and "
                      "INDEL F1 at 50 % up in all three), so chr1's figures are not blind to this choice"),
        FittedSetting("model.CompactNet (the per-read branch)", "compact",
                      "the same chr10 comparison", "kept after the chr10 comparison: with it, bfloat16 and more epochs "
                      "chr10 INDEL F1 at full coverage rose from 0.9028 to 0.9066 (DEMO_ORIGINAL_OVERRIDES' comment)"),
        FittedSetting("model.COMPACT_BLOCK_WIDTH",
                      f"{COMPACT_BLOCK_WIDTH} channels",
                      "time: the book within CI's 90 minutes on a 2-core CPU without bfloat16 (64 wide took 96 "
                      "minutes there); F1 on chr10 not to fall beyond noise",
                      "halved from 64 (training 401 against 162 examples/s there); chr10, one training seed, paired "
                      "F1 change at 50 % SNP +0.0031 [+0.0004, +0.0071], INDEL -0.0015 [-0.0171, +0.0130], at full "
                      "coverage SNP -0.0008 [-0.0019, 0.0000], INDEL -0.0062 [-0.0148, +0.0032]; chr1 was not looked "
                      "at before it was kept"),
        FittedSetting("realigner.RealignerConfig.min_haplotype_reads", f"{RealignerConfig().min_haplotype_reads}",
                      "INDEL F1 at 50 % on chr10 against the realigner without pruning (issue 16)",
                      "DeepVariant's dbg_min_edge_weight; kept after chr10 (+0.0066 [-0.0057, +0.0202], one training "
                      "seed); the test contig chr1 was then looked at too (+0.0087 [+0.0001, +0.0169]), as issue 16's "
                      "done-when asks, so chr1's original-model figures are not blind to this choice"),
        FittedSetting("pileup.DEFAULT_CHANNELS (beyond DeepVariant's WGS channels)",
                      ", ".join(c for c in DEFAULT_CHANNELS if c not in WGS_CHANNELS),
                      "INDEL F1 at 50 % on chr10 (issue 16: the original model above bcftools on chr1 and on a genome "
                      "from another seed)",
                      "added after chr10's error analysis (stutter in long runs taken for deletions): chr10 +0.0224 "
                      "[+0.0081, +0.0419]; then checked on chr1 (+0.0194 [+0.0080, +0.0319]) and on the seed-7 "
                      "genome's chr1 (+0.0186 [+0.0020, +0.0344]): the test contig was looked at before it was kept"),
        FittedSetting("seeds of the small-batch controls", "3 seeds",
                      "agreement between single runs", "replicated after single runs of them pointed in different "
                      f"directions; V1 and V2 ran with {len(REPLICATE_SEEDS)} seeds from the start, the data controls "
                      "with one (each costs as much as a run of V2)"),
    ]


def fitted_table(config: DemoConfig | None = None):
    """:func:`fitted_settings` as a table, one row per setting."""
    import pandas as pd

    return pd.DataFrame([s.__dict__ for s in fitted_settings(config)]).set_index("setting")
