# RAVDESS in: download (or take a local zip/folder, or synthesise the demo corpus), unpack, and
# parse every file name into results/metadata.csv.

# The download needs the network, which cluster compute nodes often lack.
localrules:
    download,


rule download:
    output:
        "resources/ravdess/Audio_Speech_Actors_01-24.zip",
    params:
        url=config["ravdess"]["url"],
        md5=config["ravdess"]["md5"],
        size=config["ravdess"]["size"],
        retries=config["ravdess"]["retries"],
        timeout=config["ravdess"]["timeout"],
    log:
        "logs/download.log",
    benchmark:
        "logs/benchmarks/download/download.tsv"
    conda:
        "../envs/ser.yaml"
    script:
        "../scripts/download.py"


rule synthesize:
    output:
        directory("resources/synthetic/audio"),
    params:
        actors=ACTORS,
        synthetic=config["ravdess"]["synthetic"],
    log:
        "logs/synthesize.log",
    benchmark:
        "logs/benchmarks/synthesize/synthesize.tsv"
    conda:
        "../envs/ser.yaml"
    script:
        "../scripts/synthesize.py"


rule unpack:
    input:
        archive,
    output:
        directory(AUDIO_DIR),
    log:
        "logs/unpack.log",
    benchmark:
        "logs/benchmarks/unpack/unpack.tsv"
    conda:
        "../envs/ser.yaml"
    script:
        "../scripts/unpack.py"


rule metadata:
    input:
        audio=audio_source,
    output:
        "results/metadata.csv",
    params:
        actors=ACTORS,
        listing=corpus_listing,
        vocal_channel=config["ravdess"]["vocal_channel"],
    log:
        "logs/metadata.log",
    benchmark:
        "logs/benchmarks/metadata/metadata.tsv"
    conda:
        "../envs/ser.yaml"
    script:
        "../scripts/metadata.py"


# Where the audio came from and how far it was checked: the report's first sentence quotes it.
rule corpus:
    input:
        unpack(corpus_inputs),
    output:
        "results/corpus.json",
    params:
        source=config["ravdess"]["source"],
        md5=config["ravdess"]["md5"],
        vocal_channel=config["ravdess"]["vocal_channel"],
    log:
        "logs/corpus.log",
    benchmark:
        "logs/benchmarks/corpus/corpus.tsv"
    conda:
        "../envs/ser.yaml"
    script:
        "../scripts/corpus.py"
