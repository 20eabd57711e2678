import factory

from billing.tests.factories import BusinessFactory
from workspace.models import CannedResponse, Label, Team


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team
        skip_postgeneration_save = True

    business = factory.SubFactory(BusinessFactory)
    name = factory.Sequence(lambda n: f"Team {n}")
    description = ""

    @factory.post_generation
    def members(self, create: bool, extracted, **kwargs) -> None:
        if create and extracted:
            self.members.set(extracted)


class LabelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Label

    business = factory.SubFactory(BusinessFactory)
    name = factory.Sequence(lambda n: f"label-{n}")
    color = "#1f77b4"


class CannedResponseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CannedResponse

    business = factory.SubFactory(BusinessFactory)
    short_code = factory.Sequence(lambda n: f"reply-{n}")
    content = "Hi {{contact.name}}, thanks for writing."
    created_by = None
