"""Request and response bodies of the auth endpoints."""

from __future__ import annotations

from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from accounts import selectors
from accounts.models import User


# A JSON body whose values have the types the schema states: DRF alone would take 0 for a
# string field ("0") and 1 or "yes" for a boolean one. (A comment, not a docstring: the
# schema would show a docstring as every subclass's description.)
class JSONInput(serializers.Serializer):
    def to_internal_value(self, data):
        if isinstance(data, dict):
            errors = {
                name: [problem]
                for name, field in self.fields.items()
                if name in data and (problem := _json_type_problem(field, data[name]))
            }
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)


def _json_type_problem(field: serializers.Field, value) -> str | None:
    if value is None and field.allow_null:
        return None
    if isinstance(field, serializers.BooleanField) and not isinstance(value, bool):
        return "Must be true or false."
    if isinstance(field, serializers.CharField) and not isinstance(value, str):
        return "Must be a string."
    return None


class UserOutput(serializers.ModelSerializer):
    active = serializers.BooleanField(source="is_active", read_only=True)

    class Meta:
        model = User
        fields = ("id", "email", "username", "active")


class RegisterInput(JSONInput):
    email = serializers.EmailField(max_length=254)
    username = serializers.RegexField(
        r"^[\w.@+-]+\Z",
        max_length=128,
        error_messages={"invalid": "Use letters, digits and @/./+/-/_ only."},
    )
    password = serializers.CharField(write_only=True, max_length=128, trim_whitespace=False)

    def validate_email(self, value: str) -> str:
        if selectors.email_taken(email=value):
            raise serializers.ValidationError("A user with this email already exists.")
        return value

    def validate_username(self, value: str) -> str:
        if selectors.username_taken(username=value):
            raise serializers.ValidationError("A user with this username already exists.")
        return value

    def validate(self, attrs):
        candidate = User(email=attrs["email"], username=attrs["username"])
        try:
            password_validation.validate_password(attrs["password"], user=candidate)
        except DjangoValidationError as exc:
            raise serializers.ValidationError({"password": list(exc.messages)}) from None
        return attrs


class LoginInput(JSONInput):
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(max_length=128, trim_whitespace=False)


class LoginOutput(serializers.Serializer):
    message = serializers.CharField()
    auth_token = serializers.CharField()
    refresh_token = serializers.CharField()


class RefreshInput(JSONInput):
    # Untrimmed: any token that is not one answers 401, blank or not.
    refresh_token = serializers.CharField(trim_whitespace=False)


class TokenPairOutput(serializers.Serializer):
    auth_token = serializers.CharField()
    refresh_token = serializers.CharField()


class UserEnvelope(serializers.Serializer):
    data = UserOutput()


class UserListData(serializers.Serializer):
    users = UserOutput(many=True)
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)


class UserListEnvelope(serializers.Serializer):
    data = UserListData()


class ErrorOutput(serializers.Serializer):
    detail = serializers.CharField()


class MessageOutput(serializers.Serializer):
    message = serializers.CharField()


def _password_field() -> serializers.CharField:
    # Bounded: every password checked or set costs an Argon2 hash.
    return serializers.CharField(write_only=True, max_length=128, trim_whitespace=False)


def _validated_new_password(password: str, user: User) -> None:
    try:
        password_validation.validate_password(password, user=user)
    except DjangoValidationError as exc:
        raise serializers.ValidationError({"new_password": list(exc.messages)}) from None


class PasswordChangeInput(JSONInput):
    """The signed-in user's current password and the new one."""

    # context={"user": ...}: the signed-in user.
    current_password = _password_field()
    new_password = _password_field()

    def validate_current_password(self, value: str) -> str:
        if not self.context["user"].check_password(value):
            raise serializers.ValidationError("Current password is incorrect.")
        return value

    def validate(self, attrs):
        _validated_new_password(attrs["new_password"], self.context["user"])
        return attrs


class PasswordResetInput(JSONInput):
    email = serializers.EmailField(max_length=254)


RESET_TOKEN_INVALID = "This reset link is invalid or has expired; request a new one."


class PasswordResetConfirmInput(JSONInput):
    """``uid`` and ``token`` from the reset email, and the new password."""

    # validated_data: {"user": <the uid's user>, "new_password": ...}
    uid = serializers.CharField(max_length=64)
    token = serializers.CharField(max_length=128)
    new_password = _password_field()

    def validate(self, attrs):
        user = selectors.user_get_by_reset_token(uid=attrs["uid"], token=attrs["token"])
        if user is None:
            raise serializers.ValidationError({"token": [RESET_TOKEN_INVALID]})
        _validated_new_password(attrs["new_password"], user)
        return {"user": user, "new_password": attrs["new_password"]}
