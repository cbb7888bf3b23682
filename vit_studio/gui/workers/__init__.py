"""Work off the GUI thread, the pattern of DESIGN.md (Threads), with one mechanism for all of it.

    thread        `WorkerThread`: jobs run in order in a QThread; the newest of a kind wins,
                  stale results are dropped, failures come back as one line
    inference     the explorer's model: load, move between devices, analyse, find local models
    batch_export  the top-k predictions of a folder, as CSV, with a model of its own
    thumbnails    filmstrip previews
    training      the fine-tune panel's thread: scans, base models, runs, saved copies;
                  `bind_session` ties it to a `FinetuneSession`
    snapshots     what the fine-tune keeps of each epoch, taken on its thread
    run_control   pause and cancel of a run across threads

Each client is a QObject with typed signals that carry plain Python / numpy objects; widgets,
pixmaps and painting stay on the GUI thread.
"""
