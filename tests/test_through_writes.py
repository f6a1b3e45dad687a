"""Links written on an M2M ``through`` model itself, not through the relation manager.

Django sends no signal at all for an auto-created through model
(``Post.labels.through``): its writes are seen through its manager's
QuerySet (``create()``, ``bulk_create()``, ``update()``, ``delete()``), and a
link row saved or deleted one by one is not seen (the README's limits say
so). A through model of the project's own (``Membership``) sends its save and
delete signals, as any model does, and its manager's bulk writes are seen
too.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.db import transaction
from model_bakery import baker

from conditional_api.changes import read_changes
from tests.testapp.models import Agency, Beat, Desk, Label, Membership, Post, Reporter, Writer

pytestmark = pytest.mark.django_db


def _version(model: type, pk: int) -> int:
    return model.objects.filter(pk=pk).values_list("version", flat=True).get()


Link = Post.labels.through


def _create(post: Post, label: Label, other: Label) -> None:
    Link.objects.create(post=post, label=other)


def _bulk_create(post: Post, label: Label, other: Label) -> None:
    Link.objects.bulk_create([Link(post_id=post.pk, label_id=other.pk)])


def _move_links(post: Post, label: Label, other: Label) -> None:
    Link.objects.filter(post=post, label=label).update(label=other)


def _queryset_delete(post: Post, label: Label, other: Label) -> None:
    Link.objects.filter(label=label).delete()


WRITES: dict[str, Callable[[Post, Label, Label], None]] = {
    "create": _create,
    "bulk_create": _bulk_create,
    "QuerySet.update": _move_links,
    "QuerySet.delete": _queryset_delete,
}


@pytest.fixture
def linked() -> tuple[Post, Label, Label]:
    post = baker.make(Post, title="Hello", writer=baker.make(Writer), published=True)
    label, other = baker.make(Label, name="alpha"), baker.make(Label, name="beta")
    post.labels.add(label)
    post.refresh_from_db()
    return post, label, other


@pytest.mark.parametrize("write", WRITES.values(), ids=WRITES.keys())
def test_a_link_written_on_the_through_model_bumps_the_post_once(linked, write, client):
    post, label, other = linked
    url = f"/test/posts/{post.pk}/"
    before = client.get(url)
    changes = read_changes(Post)
    with transaction.atomic():
        write(post, label, other)
    assert _version(Post, post.pk) == post.version + 1
    assert read_changes(Post) > changes
    assert client.get(url, HTTP_IF_NONE_MATCH=before.headers["ETag"]).status_code == 200


@pytest.mark.parametrize(
    "write",
    [
        pytest.param(lambda post, label: post.labels.remove(label), id="labels.remove"),
        pytest.param(lambda post, label: post.labels.clear(), id="labels.clear"),
        pytest.param(lambda post, label: label.posts.remove(post), id="label.posts.remove"),
        pytest.param(lambda post, label: label.posts.clear(), id="label.posts.clear"),
        pytest.param(lambda post, label: post.labels.set([]), id="labels.set"),
    ],
)
def test_links_removed_by_the_relation_manager_bump_the_post_once(linked, write):
    """The manager's own signals cover these; the through model's delete signals must not bump again."""
    post, label, _ = linked
    version = post.version
    write(post, label)
    assert _version(Post, post.pk) == version + 1


def test_a_link_of_a_later_hop_written_on_its_through_model_bumps_the_agency():
    """``Agency.depends_on = ("reporters__beats",)``: the reporter-beat links are the second hop."""
    agency = baker.make(Agency)
    reporter = baker.make(Reporter, agency=agency)
    beat = baker.make(Beat)
    version = _version(Agency, agency.pk)
    Reporter.beats.through.objects.create(reporter=reporter, beat=beat)
    assert _version(Agency, agency.pk) == version + 1
    Reporter.beats.through.objects.filter(beat=beat).delete()
    assert _version(Agency, agency.pk) == version + 2


def test_a_link_moved_to_another_post_bumps_both_posts(linked):
    post, label, _ = linked
    other_post = baker.make(Post, title="Other", writer=post.writer, published=True)
    before = _version(Post, post.pk), _version(Post, other_post.pk)
    Link.objects.filter(post=post, label=label).update(post=other_post)
    assert (_version(Post, post.pk), _version(Post, other_post.pk)) == (before[0] + 1, before[1] + 1)


def test_no_delete_receiver_listens_to_an_auto_created_through_model():
    """Django would send it nothing, and a receiver would cost remove() and clear() their one-statement delete."""
    from django.db.models.signals import post_delete, pre_delete

    assert not pre_delete.has_listeners(Link) and not post_delete.has_listeners(Link)


# -- a through model of the project's own --------------------------------------------------


@pytest.fixture
def desk() -> tuple[Desk, Reporter, Reporter]:
    desk = baker.make(Desk, name="Politics")
    ada, linus = baker.make(Reporter, name="Ada"), baker.make(Reporter, name="Linus")
    desk.members.add(ada)
    desk.refresh_from_db()
    return desk, ada, linus


def _member_save(desk: Desk, member: Reporter, other: Reporter) -> None:
    Membership(desk=desk, reporter=other, role="editor").save()


def _member_moved_by_save(desk: Desk, member: Reporter, other: Reporter) -> None:
    membership = Membership.objects.get(desk=desk, reporter=member)
    membership.reporter = other
    membership.save()


MEMBERSHIP_WRITES: dict[str, Callable[[Desk, Reporter, Reporter], None]] = {
    "create": lambda desk, member, other: Membership.objects.create(desk=desk, reporter=other),
    "save": _member_save,
    "save of a moved link": _member_moved_by_save,
    "delete": lambda desk, member, other: Membership.objects.get(desk=desk, reporter=member).delete(),
    "QuerySet.delete": lambda desk, member, other: Membership.objects.filter(reporter=member).delete(),
    "bulk_create": lambda desk, member, other: Membership.objects.bulk_create([Membership(desk=desk, reporter=other)]),
    "QuerySet.update": lambda desk, member, other: Membership.objects.filter(desk=desk).update(reporter=other),
    "desk.members.add": lambda desk, member, other: desk.members.add(other),
    "desk.members.remove": lambda desk, member, other: desk.members.remove(member),
    "desk.members.clear": lambda desk, member, other: desk.members.clear(),
    "reporter.desks.remove": lambda desk, member, other: member.desks.remove(desk),
}


@pytest.mark.parametrize("write", MEMBERSHIP_WRITES.values(), ids=MEMBERSHIP_WRITES.keys())
def test_a_link_written_on_a_through_model_of_its_own_bumps_the_desk_once(desk, write):
    desk, member, other = desk
    version = _version(Desk, desk.pk)
    with transaction.atomic():
        write(desk, member, other)
    assert _version(Desk, desk.pk) == version + 1
