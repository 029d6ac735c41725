"""deep_cnn.py's recipes (a ``Config`` row per write-up), the softmax recipes, and the rules
that turn a recipe and the command line into a run's config, which run.json keeps whole."""

import dataclasses
import math
import os
import sys
import typing

import mnist_data
from deep_mnist import machine, rundir, tfstart


@dataclasses.dataclass(frozen=True)
class Config:
    """Everything that defines a run: a row of RECIPES, with resolve()'s overrides."""
    recipe: str                        # the row's name
    source: str                        # the write-up it comes from
    # the network
    network: str = 'two_conv'          # or 'single_conv'
    init: str = 'truncated_normal'     # stddev 0.1; or 'random_normal' (stddev 1)
    weight_seed: typing.Optional[int] = None  # an op seed for every weight (001: 1)
    bias_init: typing.Optional[float] = 0.1   # None: random_normal, like the weights
    bias_add: bool = False             # conv bias through tf.nn.bias_add (004)
    dropout: bool = True
    output: str = 'logits'             # or 'softmax'
    # the training
    loss: str = 'mean_cross_entropy'   # or 'sum_neg_log': -reduce_sum(y_*log(y_conv))
    optimizer: str = 'adam'            # or 'gd'
    learning_rate: float = 1e-4        # the rate, or the peak of a schedule
    schedule: str = 'constant'         # or 'linear' / 'cosine': after `warmup`, down to 0
    warmup: float = 0.0                # fraction of the steps over which the rate ramps up
    label_smoothing: float = 0.0       # train on (1 - e) * y_ + e / 10
    precision: str = 'fp32'            # or 'bf16': oneDNN's, where the CPU has it natively
    tuned_for: str = ''                # the precision whose schedule this is (SCHEDULES)
    steps: typing.Optional[int] = 20000  # None: as many as `epochs` take
    epochs: int = 0                    # > 0: also print the loss of every epoch (004)
    batch_size: int = 50
    keep_prob: float = 0.5
    # what the run shows and keeps; none of these changes the math
    log_every: int = 100
    checkpoint_every: int = 2000
    keep_every: int = 0                # also keep every checkpoint at a multiple of this
    # A test/ scalar costs a forward pass over test_summary_size images; every 500 steps
    # that is ~1 % of the tutorial's training time (every 100: ~7 %).
    summary_every: int = 500
    test_summary_size: int = 1000      # test images behind each test/ scalar
    full_summaries: bool = False
    expect: str = ''                   # what the write-up promises
    # where the run lives, and its randomness
    seed: typing.Optional[int] = None
    data_dir: typing.Optional[str] = None
    checkpoint_dir: typing.Optional[str] = None
    log_dir: typing.Optional[str] = None


# Fields a flag may override.
FLAGS = ('steps', 'batch_size', 'learning_rate', 'keep_prob', 'log_every', 'checkpoint_every',
         'summary_every', 'full_summaries', 'precision', 'seed', 'data_dir', 'checkpoint_dir',
         'log_dir')
# Fields a resumed run may change (and says it does); any other difference from the
# run.json config means the checkpoints belong to another recipe.
RESUMABLE = FLAGS + ('keep_every', 'test_summary_size', 'expect', 'source')
# Of those, the ones that change the training from the resumed step on.
CHANGES_THE_MATH = ('batch_size', 'learning_rate', 'keep_prob', 'precision', 'seed')
# Where a run lives: no reason to mention a change of these on resume.
PLACES = ('data_dir', 'checkpoint_dir', 'log_dir')

RECIPES = {c.recipe: c for c in (
    # The tutorial; every 5000th checkpoint stays, to compare the filters over training.
    Config('expert', '003, official mnist_deep.py', keep_every=5000, expect='0.992'),
    Config('original', '000, 001', output='softmax', loss='sum_neg_log', keep_every=5000,
           expect='0.9924'),
    # 001's first network: 16 edge-detecting filters, no conv bias, 16 FC units. As its code
    # ran: tf.constant(0,1, shape=shape) takes the 1 as the dtype (biases start at 0), and
    # seed=1 draws all three weight matrices from the start of one random stream.
    Config('single_conv', '001 part 1', network='single_conv', weight_seed=1, bias_init=0.0,
           dropout=False, output='softmax', loss='sum_neg_log', optimizer='gd',
           learning_rate=0.001, steps=1001, batch_size=100, keep_prob=1.0, log_every=10,
           expect='0.975'),
    # 002 logs everything, and the full test set every 100 steps, over 3000 steps.
    Config('summaries', '002', steps=3000, full_summaries=True, summary_every=100,
           test_summary_size=10000, checkpoint_every=1000, expect='~0.98'),
    # 004: random_normal (stddev 1) weights and biases, no dropout, Adam's default
    # rate, 3 epochs of 128, per-epoch losses instead of step lines.
    Config('epochs', '004', init='random_normal', bias_init=None, bias_add=True,
           dropout=False, learning_rate=0.001, steps=None, epochs=3, batch_size=128,
           keep_prob=1.0, log_every=0, checkpoint_every=0, expect='report'),
    # Not a write-up's: the expert network on a schedule for a 2-core CPU, chosen on the
    # validation split (docs/fast.md); bf16 where the CPU has it (~1.7x fp32's images/s).
    Config('fast', 'this project', learning_rate=5e-3, schedule='linear', warmup=0.05,
           label_smoothing=0.1, precision='bf16', tuned_for='bf16', steps=1719,
           batch_size=128, log_every=500, checkpoint_every=0, expect='0.9925'),
)}

# A recipe's schedule for the precision a run computes in, where it differs from the row's:
# fp32 costs ~1.7x bf16's time per image, so `fast` in fp32 trains 3 epochs, not 4, at a
# peak of 7e-3, chosen on the validation split (docs/fast.md; bench/bench_tune.py).
SCHEDULES = {'fast': {'fp32': dict(steps=3 * mnist_data.TRAIN_EXAMPLES // 128, batch_size=128,
                                   learning_rate=7e-3)}}


@dataclasses.dataclass(frozen=True)
class SoftmaxRecipe:
    """One version of softmax_baseline.py's softmax regression."""
    name: str
    source: str          # the write-up it comes from
    loss: str            # 'logits': CE with logits; 'softmax': -sum(y_ * log(softmax))
    learning_rate: float
    steps: int
    batch_size: int
    expect: str          # what the text promises


SOFTMAX_RECIPES = {r.name: r for r in (
    SoftmaxRecipe('expert', '003', 'logits', 0.5, 1000, 100, 'about 92%'),
    SoftmaxRecipe('original', '000', 'softmax', 0.01, 1000, 50, '91%'),
)}


def computes_in(precision):
    return 'bf16' if tfstart.bf16_in_use(precision) else 'fp32'


def resolve(recipe='expert', **overrides):
    """RECIPES[recipe] with its schedule for the precision it computes in (SCHEDULES), then
    ``overrides`` (None: keep the recipe's), its steps and directories filled in."""
    given = {k: v for k, v in overrides.items() if v is not None}
    config = dataclasses.replace(RECIPES[recipe], **given)
    runs_in = computes_in(config.precision)
    schedule = SCHEDULES.get(recipe, {}).get(runs_in)
    if schedule is not None and config.tuned_for != runs_in:   # the flags given still win
        config = dataclasses.replace(RECIPES[recipe], **{**schedule, 'tuned_for': runs_in, **given})
    return dataclasses.replace(   # steps None: as many as `epochs` take
        config, data_dir=config.data_dir or mnist_data.default_data_dir(),
        steps=config.epochs * (mnist_data.TRAIN_EXAMPLES // config.batch_size)
        if config.steps is None else config.steps,
        checkpoint_dir=config.checkpoint_dir or rundir.default_checkpoint_dir(recipe),
        log_dir=config.log_dir or os.path.join('logs', recipe))


def describe_schedule(config):
    """The training a config runs, in words: 'N steps of B, ...'."""
    epochs = config.steps * config.batch_size / mnist_data.TRAIN_EXAMPLES
    text = '%d steps of %d (%.3g epochs), rate %g' % (
        config.steps, config.batch_size, epochs, config.learning_rate)
    if config.schedule != 'constant':
        text += ' at its peak, %s to 0' % config.schedule
    return text


def precision_line(config):
    """The line a run starts with where its precision needs saying, else None."""
    runs_in, tuned = computes_in(config.precision), config.recipe in SCHEDULES
    if config.precision == 'bf16' and runs_in != 'bf16':
        why = ('this CPU has no native bfloat16 (%s)' % ' or '.join(machine.BF16_FLAGS)
               if machine.cpu_has_native_bf16() is not None else "this CPU's flags cannot be read")
        schedule = '; %s uses its fp32 schedule: %s' % (config.recipe, describe_schedule(config))
        return ('bf16 not in use: %s; running fp32 instead, which takes ~1.7x the time per '
                'image of bf16 on a CPU that has it%s' % (why, schedule if tuned else ''))
    if tuned:
        how = 'native bfloat16' if runs_in == 'bf16' else '--precision fp32; its fp32 schedule'
        return '%s in %s (%s): %s' % (config.recipe, runs_in, how, describe_schedule(config))
    return None


def learning_rate_at(config, step):
    """The step size at ``step``: constant, or a warmup ramp, then a fall to 0 at the end."""
    if config.schedule == 'constant':
        return config.learning_rate
    warm = max(1, round(config.warmup * config.steps))
    if step < warm:
        return config.learning_rate * (step + 1) / warm
    done = min(1.0, (step - warm) / max(1, config.steps - warm))
    fall = 1 - done if config.schedule == 'linear' else 0.5 * (1 + math.cos(math.pi * done))
    return config.learning_rate * fall


def fits(value, kind):
    """Whether a JSON value has the type ``kind``: a class (an int passes for a float, a
    bool for nothing but a bool), Optional, List, Tuple (a list that long) or TypedDict."""
    args = typing.get_args(kind)
    origin = typing.get_origin(kind)
    if origin is typing.Union:
        return any(fits(value, k) for k in args)
    if origin in (list, tuple):
        return isinstance(value, list) and (
            all(fits(v, args[0]) for v in value) if origin is list
            else len(value) == len(args) and all(map(fits, value, args)))
    if typing.is_typeddict(kind):
        return isinstance(value, dict) and all(fits(value.get(k), t)
                                               for k, t in kind.__annotations__.items())
    if isinstance(value, bool) or kind is bool:
        return isinstance(value, bool) and kind is bool
    return isinstance(value, (int, float) if kind is float else kind)


def config_from_record(record, where='run.json', warn=True):
    """The Config that run.json recorded, or None if it has none this version can read. A
    field it lacks, or of the wrong type (named in one warning), takes its recipe's value."""
    stored = record.get('config')
    if not isinstance(stored, dict) or stored.get('recipe') not in RECIPES:
        return None
    hints = typing.get_type_hints(Config)
    bad = [name for name in hints if name in stored and not fits(stored[name], hints[name])]
    if bad and warn:
        print('warning: %s: config.%s is not a %s; using the recipe\'s value' % (
            where, bad[0], getattr(hints[bad[0]], '__name__', 'value of the right type')),
            file=sys.stderr)
    return dataclasses.replace(RECIPES[stored['recipe']], **{
        name: stored[name] for name in hints if name in stored and name not in bad})


def config_changes(stored, config):
    """{field: (stored value, new value)} for the fields where two configs differ."""
    old, new = dataclasses.asdict(stored), dataclasses.asdict(config)
    return {name: (old[name], new[name]) for name in old if old[name] != new[name]}
