"""The admin of users: every change the telemetry side must hear of (deactivation,
reactivation, deletion, a new password) goes through ``accounts.services``, which writes the
outbox event, as the staff API's do."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminPasswordChangeForm, UserChangeForm, UserCreationForm
from django.db import transaction

from accounts import services
from accounts.models import AccountEvent, RefreshChain, User


class UserCreateForm(UserCreationForm):
    class Meta:
        model = User
        fields = ("email", "username")


class UserEditForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"


class PasswordSetForm(AdminPasswordChangeForm):
    """Sets a usable password through ``services.user_password_set`` (sessions end, event)."""

    def save(self, commit=True):
        if commit and self.cleaned_data.get("set_usable_password", True):
            services.user_password_set(
                user=self.user,
                password=self.cleaned_data["password1"],
                reason=RefreshChain.EndReason.PASSWORD_CHANGE,
            )
            return self.user
        return super().save(commit=commit)


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form = UserEditForm
    add_form = UserCreateForm
    change_password_form = PasswordSetForm
    list_display = ("id", "email", "username", "is_active", "is_staff", "date_joined")
    list_filter = ("is_active", "is_staff", "is_superuser")
    search_fields = ("email", "username")
    ordering = ("id",)
    actions = ["activate", "deactivate"]
    fieldsets = (
        (None, {"fields": ("email", "username", "password")}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("email", "username", "password1", "password2")}),
    )

    @admin.action(description="Activate selected users")
    def activate(self, request, queryset):
        for user in queryset:
            services.user_active_set(user=user, active=True)

    @admin.action(description="Deactivate selected users")
    def deactivate(self, request, queryset):
        for user in queryset:
            services.user_active_set(user=user, active=False)

    def save_model(self, request, obj, form, change):
        if not (change and "is_active" in form.changed_data):
            return super().save_model(request, obj, form, change)
        active = obj.is_active
        obj.is_active = not active  # the service makes the change, and records its event
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            services.user_active_set(user=obj, active=active)

    def delete_model(self, request, obj):
        services.user_delete(user=obj)

    def delete_queryset(self, request, queryset):
        for user in queryset:
            services.user_delete(user=user)


@admin.register(AccountEvent)
class AccountEventAdmin(admin.ModelAdmin):
    """The outbox, read only: what was recorded and when the relay published it."""

    list_display = ("id", "user_id", "seq", "type", "created_at", "published_at")
    list_filter = ("type",)
    search_fields = ("user_id",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
