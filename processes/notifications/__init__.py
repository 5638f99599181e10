"""Live notifications: the outbox, who hears what, and the wake-up after commit.

A `Notification` row is written in the same transaction as the change it reports (the outbox),
so a rollback sends nothing and a commit never loses one. After the commit, a wake-up goes out
on the channel layer to `user.<id>` and to the channels of the people the change concerns
(`perm.<permission>` for a queue, `process.<id>` for a process page). The wake-up carries no
data: the websocket consumer (processes/consumers.py) reads what to deliver from the database,
so a lost wake-up only delays a notification until the next one or the next poll.

- `channels`: channel names, the wake-ups after commit, and the end of a session's sockets.
- `audiences`: who hears of what (the holders of a permission, the channels a user may join).
- `services`: the writes: the outbox, the transition hook, reminders, read marks, preferences.
- `selectors`: the reads: payloads, what a user may see, counts, the catch-up, preferences.
- `signals`: receivers that end sockets and remember a task's owner (connected in apps.py).
- `views` and `urls`: the notification center, mounted at `notifications/` by portal/urls.py.
"""
