using Bunit;
using Microsoft.Extensions.DependencyInjection;
using MudBlazor.Services;

namespace MeasureApp.Tests.Infrastructure;

/// <summary>
/// The one shared bUnit setup for MudBlazor components (services, loose JS interop, popover host).
/// MudBlazor registers services that only dispose asynchronously, so the context is disposed
/// through xunit's IAsyncLifetime rather than IDisposable.
/// </summary>
public abstract class MudTestContext : IAsyncLifetime
{
    protected MudTestContext()
    {
        Context.JSInterop.Mode = JSRuntimeMode.Loose;
        Context.Services.AddMudServices();
        // Selects and menus render their lists into the popover provider.
        Context.Render<MudBlazor.MudPopoverProvider>();
    }

    protected BunitContext Context { get; } = new();

    protected IRenderedComponent<T> Render<T>(Action<ComponentParameterCollectionBuilder<T>> parameters)
        where T : Microsoft.AspNetCore.Components.IComponent => Context.Render(parameters);

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await Context.DisposeAsync();
}
