#!/usr/bin/env python3
"""Write the training corpus for the bundled peftjs-tiny-llama model.

The corpus, "Tales of the Willow Wood", is written here: a deterministic
generator of short animal fables in simple English, all in one recognisable
style (a title line, "Once upon a time, in ...", a small trouble, how it is
solved, and a closing moral).  Every word of it comes from this file, so the
text is original to the peftjs repository and shared under the repository's
licence (Apache-2.0); no outside text is used.

    python3 scripts/pretrain/make_corpus.py            # writes corpus.txt
    python3 scripts/pretrain/make_corpus.py --check    # verifies corpus.txt

Stories are separated by a line holding only "<|story|>"; the trainer splits
on it and wraps each story in <s> ... </s>.  Uses only the standard library
and a fixed seed, so the output is byte-for-byte reproducible.
"""
import argparse
import hashlib
import os
import random

SEED = 20240611
N_STORIES = 1000
SEP = "<|story|>"

ANIMALS = [
    ("fox", "foxes"), ("rabbit", "rabbits"), ("hedgehog", "hedgehogs"), ("owl", "owls"),
    ("mouse", "mice"), ("bear", "bears"), ("badger", "badgers"), ("squirrel", "squirrels"),
    ("duck", "ducks"), ("frog", "frogs"), ("tortoise", "tortoises"), ("goat", "goats"),
    ("crow", "crows"), ("deer", "deer"), ("otter", "otters"), ("mole", "moles"),
    ("sparrow", "sparrows"), ("wolf", "wolves"), ("lamb", "lambs"), ("beaver", "beavers"),
    ("cat", "cats"), ("dog", "dogs"), ("goose", "geese"), ("snail", "snails"),
    ("robin", "robins"), ("pig", "pigs"), ("horse", "horses"), ("lion", "lions"),
]
NAMES = [
    "Pip", "Tilly", "Bramble", "Hazel", "Odo", "Fern", "Rusty", "Moss", "Clover", "Juniper",
    "Tobias", "Wren", "Barnaby", "Poppy", "Alder", "Nettle", "Basil", "Maple", "Thistle", "Rowan",
    "Bella", "Milo", "Daisy", "Oliver", "Sage", "Willow", "Pumpkin", "Button", "Acorn", "Pebble",
    "Marigold", "Jasper", "Tansy", "Quill", "Hollis", "Ivy", "Toby", "Nutmeg", "Sorrel", "Dewdrop",
    "Briar", "Cobble", "Lark", "Mabel", "Finn", "Hattie", "Ember", "Gus", "Lulu", "Birch",
]
PLACES = [
    "in a quiet valley by the river", "at the edge of the Willow Wood", "in a green meadow full of flowers",
    "in a little house under an old oak tree", "on a sunny hill above the village", "in a deep and shady forest",
    "by a muddy pond behind the mill", "in a snowy wood in the far north", "in a warm burrow near the brook",
    "in an orchard where the apples grew red", "in a field of tall golden wheat", "on a rocky hill by the sea",
    "in a garden behind a farmer's cottage", "in a hollow log at the foot of the mountain",
    "in a wide marsh where the reeds were tall", "in the middle of the Willow Wood",
]
TRAITS = [
    ("proud", "kind"), ("greedy", "generous"), ("lazy", "hard-working"), ("boastful", "humble"),
    ("impatient", "patient"), ("shy", "brave"), ("selfish", "caring"), ("careless", "careful"),
    ("grumpy", "cheerful"), ("fearful", "bold"), ("clever", "wise"), ("gentle", "gentle"),
    ("curious", "thoughtful"), ("quick", "steady"), ("small", "strong"),
]
OBJECTS = [
    ("a red scarf", "the red scarf"), ("a silver bell", "the silver bell"),
    ("a basket of berries", "the basket of berries"), ("a shiny pebble", "the shiny pebble"),
    ("a little lantern", "the little lantern"), ("a golden key", "the golden key"),
    ("a blue feather", "the blue feather"), ("a wooden spoon", "the wooden spoon"),
    ("a jar of honey", "the jar of honey"), ("a map of the wood", "the map of the wood"),
    ("a warm blanket", "the warm blanket"), ("a bag of seeds", "the bag of seeds"),
    ("a round cheese", "the round cheese"), ("a tiny drum", "the tiny drum"),
    ("a kite with a long tail", "the kite"), ("a loaf of fresh bread", "the loaf of bread"),
]
FOODS = ["acorns", "berries", "apples", "carrots", "nuts", "seeds", "honey", "clover", "pears",
         "mushrooms", "corn", "plums", "bread crumbs", "cabbages"]
SEASONS = ["spring", "summer", "autumn", "winter"]
TIMES = ["One morning", "One bright morning", "One evening", "One cold night", "One sunny day",
         "One rainy afternoon", "Early one morning", "Late one evening", "One windy day"]
WEATHER = ["a great storm", "a heavy rain", "a bitter frost", "a strong wind", "a thick fog",
           "a deep snow", "a long dry spell"]
SOUNDS = ["a small cry", "a soft sob", "a loud splash", "a strange rustle", "a tiny squeak",
          "a sad song", "a call for help"]
SAID = ["said", "said", "said", "cried", "whispered", "called", "laughed", "replied", "asked"]


def a_an(word):
    return ("an " if word[0] in "aeiou" else "a ") + word


class Char:
    def __init__(self, rng, used):
        while True:
            self.name = rng.choice(NAMES)
            self.animal, self.plural = rng.choice(ANIMALS)
            if self.name not in used and self.animal not in {u for u in used}:
                break
        used.add(self.name)
        used.add(self.animal)
        self.flaw, self.virtue = rng.choice(TRAITS)
        self.he, self.his, self.him = rng.choice([("he", "his", "him"), ("she", "her", "her")])


def cap(s):
    return s[0].upper() + s[1:]


def opening(rng, hero, place):
    size = rng.choice(["little", "young", "old", "small", "clever", "busy", "tiny", "big"])
    forms = [
        f"Once upon a time, {place}, there lived {a_an(size)} {hero.animal} named {hero.name}.",
        f"Once upon a time, {place}, there lived {a_an(hero.animal)} called {hero.name}.",
        f"Long ago, {place}, there was {a_an(size)} {hero.animal} named {hero.name}.",
        f"Once upon a time, {a_an(size)} {hero.animal} named {hero.name} lived {place}.",
    ]
    s = [rng.choice(forms)]
    s.append(rng.choice([
        f"{hero.name} was {hero.flaw}, and everyone in the wood knew it.",
        f"{hero.name} was a {hero.flaw} {hero.animal}, but {hero.he} had a good heart.",
        f"{cap(hero.he)} was very {hero.flaw}.",
        f"{hero.name} was {hero.flaw} and liked to eat {rng.choice(FOODS)} all day long.",
        f"Every day {hero.name} played in the sun and ate {rng.choice(FOODS)}.",
    ]))
    return s


def plot_lost(rng, hero, friend):
    obj, the_obj = rng.choice(OBJECTS)
    where = rng.choice(["by the river", "under a big rock", "in the tall grass", "near the old well",
                        "at the top of a tree", "in a dark cave", "behind the mill"])
    s = [f"{rng.choice(TIMES)}, {hero.name} found that {hero.he} had lost {obj}."]
    s.append(rng.choice([
        f"\"Oh no!\" {rng.choice(SAID)} {hero.name}. \"Where can it be?\"",
        f"{hero.name} looked high and low, but {the_obj} was nowhere to be found.",
        f"{hero.name} sat down and began to cry.",
    ]))
    s.append(f"Just then, {friend.name} the {friend.animal} came by.")
    s.append(f"\"Why are you so sad?\" asked {friend.name}.")
    s.append(f"\"I have lost {the_obj},\" said {hero.name}.")
    s.append(rng.choice([
        f"\"Do not worry,\" said {friend.name}. \"I will help you look.\"",
        f"\"Then we shall find it together,\" said {friend.name}.",
    ]))
    s.append(f"So the two friends searched the whole {rng.choice(['wood', 'meadow', 'valley', 'hill'])}.")
    s.append(rng.choice([
        f"At last they found {the_obj} {where}.",
        f"When the sun was low, {friend.name} saw {the_obj} {where}.",
    ]))
    s.append(f"{hero.name} was so happy that {hero.he} thanked {friend.name} again and again.")
    moral = rng.choice([
        "a friend in need is a friend indeed",
        "two friends can do what one cannot",
        "help is always near when you ask for it",
    ])
    return s, moral


def plot_race(rng, hero, friend):
    goal = rng.choice(["the big oak tree", "the old bridge", "the top of the hill", "the far side of the meadow",
                       "the farmer's gate", "the edge of the pond"])
    s = [f"{hero.name} liked to say that {hero.he} was the fastest animal in the wood."]
    s.append(f"{rng.choice(TIMES)}, {hero.name} met {friend.name} the {friend.animal}.")
    s.append(f"\"Let us race to {goal},\" said {hero.name}. \"I will surely win.\"")
    s.append(f"{friend.name} was {friend.virtue}, and {friend.he} said, \"Very well.\"")
    s.append(f"The race began, and {hero.name} ran far ahead.")
    s.append(rng.choice([
        f"Soon {hero.name} grew tired and lay down for a nap under a tree.",
        f"Soon {hero.name} stopped to eat some {rng.choice(FOODS)} by the path.",
        f"Soon {hero.name} stopped to boast to the birds about how fast {hero.he} was.",
    ]))
    s.append(f"But {friend.name} did not stop. Step by step, {friend.he} went on and on.")
    s.append(f"When {hero.name} looked up, {friend.name} was already at {goal}.")
    s.append(f"{hero.name} hung {hero.his} head, for {hero.he} had lost the race.")
    moral = rng.choice([
        "slow and steady wins the race",
        "it is better to keep going than to boast",
        "pride goes before a fall",
    ])
    return s, moral


def plot_winter(rng, hero, friend):
    food = rng.choice(FOODS)
    s = [f"All through the {rng.choice(['summer', 'autumn'])}, {friend.name} the {friend.animal} worked hard to gather {food}."]
    s.append(f"But {hero.name} only played and sang in the sun.")
    s.append(f"\"Why do you work so hard?\" laughed {hero.name}. \"There is plenty of food for all.\"")
    s.append(f"\"Winter is coming,\" said {friend.name}. \"We must be ready.\"")
    s.append(f"Then winter came, with {rng.choice(['a deep snow', 'a bitter frost', 'a cold wind'])}.")
    s.append(f"{hero.name} was cold and hungry, and there was no food to be found.")
    s.append(f"{cap(hero.he)} went to the home of {friend.name} and knocked on the door.")
    s.append(rng.choice([
        f"{friend.name} was {friend.virtue}, so {friend.he} shared {friend.his} {food} with {hero.name}.",
        f"\"Come in,\" said {friend.name}, and {friend.he} gave {hero.name} a warm bowl of {food}.",
    ]))
    s.append(f"From that day on, {hero.name} always helped to gather food for the winter.")
    moral = rng.choice([
        "it is wise to prepare today for the needs of tomorrow",
        "hard work in the sun keeps you warm in the snow",
        "those who work together eat together",
    ])
    return s, moral


def plot_storm(rng, hero, friend):
    weather = rng.choice(WEATHER)
    s = [f"{rng.choice(TIMES)}, {weather} came to {rng.choice(['the wood', 'the valley', 'the meadow', 'the hill'])}."]
    s.append(f"The home of {friend.name} the {friend.animal} was {rng.choice(['blown away', 'washed away', 'broken', 'full of water'])}.")
    s.append(f"{friend.name} had nowhere to go, and {friend.he} was very afraid.")
    s.append(rng.choice([
        f"{hero.name} was {hero.flaw}, and at first {hero.he} did not want to share {hero.his} home.",
        f"{hero.name} saw {friend.name} shivering in the rain.",
    ]))
    s.append(f"\"Come inside,\" said {hero.name} at last. \"There is room for two.\"")
    s.append(f"The two of them sat by the fire and told stories until the storm was over.")
    s.append(rng.choice([
        f"In the morning, {hero.name} helped {friend.name} build a new home, stronger than before.",
        f"In the morning, all the animals came to help {friend.name} build a new home.",
    ]))
    s.append(f"{hero.name} felt warm inside, warmer than any fire could make {hero.him}.")
    moral = rng.choice([
        "a kind heart makes a home bigger",
        "sharing what you have makes it grow",
        "kindness is never wasted",
    ])
    return s, moral


def plot_trick(rng, hero, friend):
    obj, the_obj = rng.choice([("a round cheese", "the cheese"), ("a piece of bread", "the bread"),
                               ("a ripe plum", "the plum"), ("a sweet pear", "the pear")])
    s = [f"{rng.choice(TIMES)}, {hero.name} the {hero.animal} found {obj} and sat on a high branch to eat it."]
    s.append(f"{friend.name} the {friend.animal} saw {the_obj} and wanted it very much.")
    s.append(f"\"Good day, {hero.name},\" said {friend.name} sweetly. \"What a fine voice you must have! Will you sing for me?\"")
    s.append(f"{hero.name} was {hero.flaw}, and {hero.he} liked to be praised.")
    s.append(f"So {hero.he} opened {hero.his} mouth to sing, and {the_obj} fell to the ground.")
    s.append(f"{friend.name} took {the_obj} and ran away, laughing.")
    s.append(f"{hero.name} sat alone on the branch with nothing to eat.")
    moral = rng.choice([
        "do not trust those who flatter you",
        "sweet words can hide a hungry heart",
        "think before you open your mouth",
    ])
    return s, moral


def plot_help_small(rng, hero, friend):
    trap = rng.choice(["a hunter's net", "a thorny bush", "a deep hole", "a tangle of vines", "a fence"])
    s = [f"{rng.choice(TIMES)}, {hero.name} the {hero.animal} heard {rng.choice(SOUNDS)} in the grass."]
    s.append(f"It was {friend.name}, a tiny {friend.animal}, caught in {trap}.")
    s.append(f"\"Please help me,\" said {friend.name}. \"One day I will help you too.\"")
    s.append(f"{hero.name} laughed. \"How could a little {friend.animal} ever help me?\"")
    s.append(f"But {hero.he} set {friend.name} free all the same.")
    trap2 = rng.choice(["a hunter's net", "a strong rope", "a thorny bush"])
    s.append(f"Many days later, {hero.name} was caught in {trap2}.")
    s.append(f"{cap(hero.he)} pulled and pulled, but {hero.he} could not get out.")
    s.append(f"Then {friend.name} came running. {cap(friend.he)} worked all night, and at last {hero.name} was free.")
    s.append(f"\"You were right,\" said {hero.name}. \"Thank you, my little friend.\"")
    moral = rng.choice([
        "no act of kindness is ever too small",
        "even the smallest friend can be a great help",
        "do good to others, and good will come back to you",
    ])
    return s, moral


def plot_greedy(rng, hero, friend):
    food = rng.choice(["acorns", "berries", "apples", "carrots", "nuts", "pears", "plums", "mushrooms", "cabbages"])
    s = [f"{rng.choice(TIMES)}, {hero.name} the {hero.animal} found a big pile of {food}."]
    s.append(f"\"These are all mine,\" said {hero.name}, and {hero.he} would not share them with anyone.")
    s.append(f"{friend.name} the {friend.animal} asked for just a few, but {hero.name} said no.")
    s.append(f"{hero.name} ate and ate until {hero.his} belly was round and full.")
    s.append(rng.choice([
        f"Then {hero.he} tried to go home through a narrow gap in the fence, but {hero.he} was too fat to fit.",
        f"Then {hero.he} felt so sick that {hero.he} could not walk home.",
        f"While {hero.he} slept, the rest of the {food} spoiled in the sun.",
    ]))
    s.append(f"{friend.name} came and helped {hero.name} all the same.")
    s.append(f"\"I am sorry,\" said {hero.name}. \"Next time I will share.\"")
    moral = rng.choice([
        "greed leaves you with less than you had",
        "what is shared is never lost",
        "it is better to share than to keep it all",
    ])
    return s, moral


def plot_brave(rng, hero, friend):
    danger = rng.choice(["a hungry wolf", "a big grey cat", "a wild dog", "a sly weasel", "a fierce hawk"])
    s = [f"{hero.name} the {hero.animal} was {hero.flaw}, and {hero.he} was afraid of many things."]
    s.append(f"{cap(hero.he)} was afraid of the dark, and of the wind, and of the deep river.")
    s.append(f"{rng.choice(TIMES)}, {friend.name} the {friend.animal} went to play near the {rng.choice(['river', 'woods', 'old mill', 'farm'])}.")
    s.append(f"Suddenly, {danger} came out of the trees.")
    s.append(f"{friend.name} was too frightened to move.")
    s.append(rng.choice([
        f"{hero.name} was afraid too, but {hero.he} ran and rang the old bell as loud as {hero.he} could.",
        f"{hero.name} was afraid too, but {hero.he} shouted, \"Run, {friend.name}, run!\"",
        f"{hero.name} was afraid too, but {hero.he} stood tall and stamped {hero.his} feet.",
    ]))
    s.append(f"The noise scared {danger} away, and {friend.name} was safe.")
    s.append(f"That night, all the animals sang a song about brave little {hero.name}.")
    moral = rng.choice([
        "being brave does not mean you are not afraid",
        "courage is doing what is right even when you are afraid",
        "a small heart can hold a great courage",
    ])
    return s, moral


def plot_patience(rng, hero, friend):
    seed = rng.choice(["an apple seed", "a bean", "a pumpkin seed", "an acorn", "a sunflower seed"])
    plant = {"an apple seed": "an apple tree", "a bean": "a tall bean plant", "a pumpkin seed": "a great orange pumpkin",
             "an acorn": "a young oak tree", "a sunflower seed": "a sunflower taller than a house"}[seed]
    s = [f"In the {rng.choice(['spring', 'early spring'])}, {hero.name} the {hero.animal} planted {seed} in the ground."]
    s.append(f"Every morning {hero.he} ran to look at it, but nothing grew.")
    s.append(f"\"It is no use,\" said {hero.name}. \"I will dig it up.\"")
    s.append(f"\"Wait,\" said {friend.name} the {friend.animal}. \"Give it water and sun, and give it time.\"")
    s.append(f"So {hero.name} waited. {cap(hero.he)} gave it water and pulled the weeds.")
    s.append(f"At last a small green shoot came up, and by the end of the summer it had become {plant}.")
    s.append(f"{hero.name} shared what it gave with all {hero.his} friends.")
    moral = rng.choice([
        "good things come to those who wait",
        "patience turns a seed into a tree",
        "everything grows in its own time",
    ])
    return s, moral


def plot_truth(rng, hero, friend):
    obj, the_obj = rng.choice(OBJECTS)
    s = [f"{rng.choice(TIMES)}, {hero.name} the {hero.animal} was playing in the home of {friend.name} the {friend.animal}."]
    s.append(f"By accident, {hero.he} broke {the_obj} that {friend.name} loved very much.")
    s.append(f"{hero.name} was afraid, so {hero.he} hid the pieces and said nothing.")
    s.append(f"When {friend.name} asked what had happened, {hero.name} said, \"It was the wind.\"")
    s.append(f"But that night {hero.name} could not sleep. {cap(hero.his)} heart felt heavy as a stone.")
    s.append(f"In the morning {hero.he} went to {friend.name} and told the truth.")
    s.append(f"\"Thank you for telling me,\" said {friend.name}. \"Things can be mended, but trust is hard to mend.\"")
    s.append(f"Together they fixed {the_obj}, and they stayed friends for ever after.")
    moral = rng.choice([
        "honesty is the best policy",
        "the truth makes a heavy heart light",
        "a true friend forgives an honest mistake",
    ])
    return s, moral


def plot_wise(rng, hero, friend):
    problem = rng.choice([
        ("the stream had dried up", "dig a little channel from the big river"),
        ("the bridge had fallen down", "lay a long log across the water"),
        ("the apples grew too high to reach", "stand on one another's backs"),
        ("the path was lost in the snow", "follow the tall pine trees home"),
        ("the water in the jug was too low to drink", "drop small pebbles in the jug until the water rose"),
    ])
    s = [f"{rng.choice(TIMES)}, the animals of the wood found that {problem[0]}."]
    s.append(f"They talked and argued, but no one knew what to do.")
    s.append(f"Then {hero.name} the {hero.animal}, who was {hero.virtue}, sat down and thought for a long time.")
    s.append(f"\"I know,\" said {hero.name} at last. \"We can {problem[1]}.\"")
    s.append(f"{friend.name} the {friend.animal} laughed at first, but the others decided to try.")
    s.append(f"It worked! Everyone cheered, and even {friend.name} said, \"Well done, {hero.name}.\"")
    moral = rng.choice([
        "a little thinking is worth a lot of worry",
        "where there is a will, there is a way",
        "wisdom is better than strength",
    ])
    return s, moral


PLOTS = [
    ("and the Lost {obj}", plot_lost), ("and the Race", plot_race), ("and the Long Winter", plot_winter),
    ("and the Storm", plot_storm), ("and the Sly {friend}", plot_trick), ("and the Little {friend}", plot_help_small),
    ("and the Big Pile of Food", plot_greedy), ("Who Was Afraid", plot_brave), ("and the Seed", plot_patience),
    ("and the Broken Gift", plot_truth), ("Who Thought It Over", plot_wise),
]

ENDINGS = [
    "And so {name} learned that {moral}.",
    "The moral of the story is that {moral}.",
    "And from that day on, {name} always remembered that {moral}.",
    "So remember, little one: {moral}.",
]


def story(rng):
    used = set()
    hero = Char(rng, used)
    friend = Char(rng, used)
    place = rng.choice(PLACES)
    title_tpl, plot = rng.choice(PLOTS)
    body, moral = plot(rng, hero, friend)
    # Titles name the hero by species ("The Fox and the Race") or by name.
    who = rng.choice([f"The {cap(hero.animal)}", f"{hero.name} the {cap(hero.animal)}"])
    title = who + " " + title_tpl.format(obj="Treasure", friend=cap(friend.animal))
    first = opening(rng, hero, place)
    # Avoid repeating the hero's introduction when the plot starts with one.
    paras = [" ".join(first), " ".join(body[: len(body) // 2]), " ".join(body[len(body) // 2:])]
    end = rng.choice(ENDINGS).format(name=hero.name, moral=moral)
    paras.append(end)
    return title + "\n\n" + "\n\n".join(paras) + "\n"


def build():
    rng = random.Random(SEED)
    out = []
    seen = set()
    while len(out) < N_STORIES:
        s = story(rng)
        if s in seen:
            continue
        seen.add(s)
        out.append(s)
    return ("\n" + SEP + "\n").join(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus.txt"))
    ap.add_argument("--check", action="store_true", help="verify the shipped corpus instead of writing it")
    args = ap.parse_args()
    text = build()
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    if args.check:
        with open(args.out, encoding="utf-8") as f:
            ok = f.read() == text
        print(("OK " if ok else "MISMATCH ") + digest)
        raise SystemExit(0 if ok else 1)
    with open(args.out, "w", encoding="utf-8") as f:
        f.write(text)
    print(f"wrote {args.out}: {text.count(SEP) + 1} stories, {len(text.encode('utf-8'))} bytes, sha256 {digest}")


if __name__ == "__main__":
    main()
