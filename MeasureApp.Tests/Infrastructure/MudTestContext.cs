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
    }

    protected BunitContext Context { get; } = new();

    private bool _popoverRendered;

    /// <summary>Renders a component; the first call also renders the popover provider (selects and menus render into it),
    /// so derived classes can still add services in their constructors.</summary>
    protected IRenderedComponent<T> Render<T>(Action<ComponentParameterCollectionBuilder<T>> parameters)
        where T : Microsoft.AspNetCore.Components.IComponent
    {
        if (!_popoverRendered)
        {
            Context.Render<MudBlazor.MudPopoverProvider>();
            _popoverRendered = true;
        }
        return Context.Render(parameters);
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public virtual async Task DisposeAsync() => await Context.DisposeAsync();
}
